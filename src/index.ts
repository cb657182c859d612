/** Public API for function authors and connector plugins. */
export type { CloudEvent, CloudEventInput } from './events/cloudevent.js';
export { createCloudEvent, parseCloudEvent, parseCloudEventBatch, CloudEventError } from './events/cloudevent.js';
export type { FunctionContext, FunctionHandler, EmitInput } from './worker/function-api.js';
export type {
  ConnectorContext,
  ConnectorDefinition,
  ConfigProblem,
  HttpRoute,
  InboundConnector,
  InboundHttpRequest,
  InboundHttpResponse,
  OutboundConnector,
  PublishResult,
} from './registry/contract.js';
export { defineConnector } from './registry/contract.js';
export { SecretString, StringEnum } from './config/schema.js';
export { HttpError } from './gateway/http-error.js';
export { SwitchboardError, ERROR_CODES, type ErrorCode } from './errors.js';
export type { HttpApi, HttpRequestOptions, HttpResponse } from '../connectors/http/index.js';
export { loadConfig, parseConfig, ConfigError } from './config/load.js';
export { startSwitchboard, type Switchboard, type SwitchboardOptions } from './switchboard.js';
