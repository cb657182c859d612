/**
 * Every error Switchboard reports carries a stable code. This table is the single list;
 * docs/errors.md documents each one and a test checks that the two agree.
 */
export const ERROR_CODES = {
  SWB_ERR_CONFIG_INVALID: 'The configuration file is invalid (YAML syntax, schema, references).',
  SWB_ERR_CONFIG_NOT_FOUND: 'The configuration file does not exist or cannot be read.',
  SWB_ERR_EVENT_INVALID: 'A CloudEvent attribute is missing or malformed.',
  SWB_ERR_HTTP_BODY_INVALID: 'A request body could not be parsed as its content type says.',
  SWB_ERR_HTTP_BODY_TOO_LARGE: "A request body is larger than the connector's limit.",
  SWB_ERR_HTTP_SIGNATURE: 'A webhook signature is missing or does not match.',
  SWB_ERR_HTTP_RATE_LIMITED: "More requests than the connector's rate limit allows; retry after Retry-After.",
  SWB_ERR_HTTP_REQUEST: 'The HTTP request itself is malformed (bad headers, unsupported method).',
  SWB_ERR_HTTP_NOT_FOUND: 'No connector listens on this method and path.',
  SWB_ERR_HTTP_MAPPING: 'A request could not be mapped to a CloudEvent (a required attribute came out empty).',
  SWB_ERR_BUS_UNAVAILABLE: 'Redis did not accept the event in time; nothing was stored.',
  SWB_ERR_BUS_BACKPRESSURE: "A function queue holds more waiting jobs than its high-water mark; the event was refused, retry later.",
  SWB_ERR_FUNCTION_TIMEOUT: 'A function ran longer than its timeout.',
  SWB_ERR_FUNCTION_LOAD: 'A function module could not be loaded or has no default export.',
  SWB_ERR_OUTBOUND_HTTP: 'An outbound HTTP call answered with an error status.',
  SWB_ERR_OUTBOUND_BLOCKED: 'An outbound call targeted a private or metadata address that is not allowed.',
  SWB_ERR_OUTBOUND_TIMEOUT: 'An outbound call did not answer within its timeout.',
  SWB_ERR_ADMIN_UNAUTHORIZED: 'An admin API request without the right bearer token.',
  SWB_ERR_ADMIN_NOT_FOUND: 'The admin API has no such connector, function, event journal or dead letter.',
  SWB_ERR_INTERNAL: 'An unexpected error; the details are in the log, never in the response.',
  SWB_ERR_REDIS_UNAVAILABLE: 'No Redis could be reached or started.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class SwitchboardError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
