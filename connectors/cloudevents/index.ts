/**
 * CloudEvents over HTTP (HTTP protocol binding 1.0): binary, structured and batch mode, with the
 * CloudEvents webhook abuse-protection handshake. How Knative, Argo Events, Dapr and EventBridge API
 * destinations send to us.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineConnector, type ConfigProblem, type InboundHttpRequest } from '../../src/registry/contract.js';
import { checkExtension, CloudEventError, parseCloudEvent, parseCloudEventBatch, type CloudEvent } from '../../src/events/cloudevent.js';
import { HttpError } from '../../src/gateway/http-error.js';
import { SecretString, StringEnum } from '../../src/config/schema.js';
import { ByteSize, Duration, toBytes } from '../../src/config/units.js';
import { createCloudEvent, type CloudEventInput } from '../../src/events/cloudevent.js';
import { createOutboundAgent } from '../../src/net/outbound.js';
import { binaryModeRequest } from '../../src/worker/runtimes/http.js';
import { createHttpClient } from '../http/index.js';
import { parsePayload } from '../webhook/payload.js';
import { createVerifier } from '../webhook/providers.js';
import type { WebhookConfig } from '../webhook/schema.js';
import secureJson from 'secure-json-parse';

export const CloudEventsConfigSchema = Type.Object(
  {
    path: Type.Optional(Type.String({ pattern: '^/[A-Za-z0-9/_.~-]*$', description: 'URL path; defaults to /hooks/<name>' })),
    bodyLimit: Type.Optional(ByteSize({ description: 'largest accepted body; defaults to gateway.bodyLimit' })),
    auth: Type.Optional(Type.Object(
      {
        scheme: StringEnum(['bearer', 'basic', 'hmac', 'none'], { description: 'receiving: how senders authenticate; none must be written out' }),
        username: Type.Optional(Type.String({ minLength: 1, description: 'basic' })),
        header: Type.Optional(Type.String({ minLength: 1, description: 'hmac: header carrying the signature' })),
        algorithm: Type.Optional(StringEnum(['sha1', 'sha256', 'sha512'])),
        encoding: Type.Optional(StringEnum(['hex', 'base64'])),
        prefix: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    )),
    sink: Type.Optional(
      Type.Object(
        {
          url: Type.String({ pattern: '^https?://', description: 'sending: where events are POSTed' }),
          mode: StringEnum(['binary', 'structured'], { default: 'binary' }),
          token: Type.Optional(SecretString({ description: 'sent as a bearer token' })),
          timeout: Duration({ default: '10s' }),
          retries: Type.Integer({ minimum: 0, maximum: 10, default: 3 }),
          allowPrivateNetworks: Type.Boolean({ default: false }),
        },
        { additionalProperties: false },
      ),
    ),
    secret: Type.Optional(SecretString()),
    secrets: Type.Optional(Type.Array(SecretString(), { minItems: 1 })),
    maxBatch: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000, description: 'most events in one batch request' }),
    allowedOrigins: Type.Array(Type.String({ minLength: 1 }), { default: ['*'], description: 'origins allowed by the OPTIONS abuse-protection handshake' }),
  },
  { additionalProperties: false },
);
export type CloudEventsConfig = Static<typeof CloudEventsConfigSchema>;

const CONTEXT_HEADERS = ['specversion', 'id', 'source', 'type', 'dataschema', 'subject', 'time'];

export function toWebhookConfig(config: CloudEventsConfig): WebhookConfig {
  const { scheme, ...rest } = config.auth ?? { scheme: 'none' as const };
  return {
    verify: { scheme, ...(rest.header ? { header: rest.header } : {}), ...(rest.algorithm ? { algorithm: rest.algorithm } : {}), ...(rest.encoding ? { encoding: rest.encoding } : {}), ...(rest.prefix !== undefined ? { prefix: rest.prefix } : {}) },
    ...(config.secret ? { secret: config.secret } : {}),
    ...(config.secrets ? { secrets: config.secrets } : {}),
    ...(rest.username ? { username: rest.username } : {}),
    event: { idFallback: 'random' },
  };
}

/** Binary mode header values are percent-encoded (HTTP binding 3.1.3.2). */
function decodeHeader(value: string, name: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new CloudEventError(name, 'header value is not valid percent-encoding');
  }
}

export function readBinary(request: InboundHttpRequest): CloudEvent {
  const attributes: Record<string, unknown> = {};
  for (const [header, raw] of Object.entries(request.headers)) {
    if (!header.startsWith('ce-') || raw === undefined) continue;
    const name = header.slice(3);
    const value = decodeHeader(Array.isArray(raw) ? raw.join(',') : raw, name);
    attributes[name] = CONTEXT_HEADERS.includes(name) ? value : checkExtension(name, value);
  }
  if (attributes.datacontenttype !== undefined) throw new CloudEventError('datacontenttype', 'is carried by Content-Type in binary mode, not ce-datacontenttype');
  const contentType = request.headers['content-type'];
  const payload = parsePayload(request.rawBody, contentType);
  return parseCloudEvent({
    ...attributes,
    ...(contentType ? { datacontenttype: contentType } : {}),
    ...(payload.data !== undefined ? { data: payload.data } : {}),
    ...(payload.data_base64 !== undefined ? { data_base64: payload.data_base64 } : {}),
  });
}

function parseJsonBody(raw: Buffer): unknown {
  try {
    return secureJson.parse(raw.toString('utf8'), undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (err) {
    throw new HttpError(400, 'SWB_ERR_HTTP_BODY_INVALID', `body is not valid JSON: ${(err as Error).message}`);
  }
}

export function readEvents(request: InboundHttpRequest, maxBatch: number): CloudEvent[] {
  const mediaType = (request.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  try {
    if (mediaType === 'application/cloudevents+json') return [parseCloudEvent(parseJsonBody(request.rawBody))];
    if (mediaType === 'application/cloudevents-batch+json') {
      const batch = parseJsonBody(request.rawBody);
      if (Array.isArray(batch) && batch.length > maxBatch) throw new HttpError(413, 'SWB_ERR_HTTP_BODY_TOO_LARGE', `batch of ${batch.length} events exceeds maxBatch ${maxBatch}`);
      return parseCloudEventBatch(batch);
    }
    if (!request.headers['ce-specversion']) {
      throw new CloudEventError('specversion', 'is required: send ce-* headers (binary mode) or application/cloudevents+json (structured mode)');
    }
    return [readBinary(request)];
  } catch (err) {
    if (err instanceof CloudEventError) throw new HttpError(400, 'SWB_ERR_EVENT_INVALID', err.message);
    throw err;
  }
}

export interface CloudEventsSinkApi {
  /** Validates the event and POSTs it to the sink; resolves with the sink's status. */
  send(event: CloudEventInput): Promise<{ status: number }>;
}

export default defineConnector({
  type: 'cloudevents',
  description: 'Receives CloudEvents over HTTP in binary, structured or batch mode.',
  configSchema: CloudEventsConfigSchema,

  check(config) {
    const problems: ConfigProblem[] = [];
    if (!config.auth && !config.sink) problems.push({ path: [], message: 'set "auth" (to receive CloudEvents), "sink" (to send them), or both' });
    if (!config.auth) return problems;
    const scheme = config.auth.scheme;
    if (scheme !== 'none' && !config.secret && !config.secrets) problems.push({ path: [], message: `missing required field "secret" (or "secrets") for auth ${scheme}` });
    if (scheme === 'hmac' && !config.auth.header) problems.push({ path: ['auth'], message: 'missing required field "header" for auth hmac' });
    if (scheme === 'basic' && !config.auth.username) problems.push({ path: ['auth'], message: 'missing required field "username" for auth basic' });
    return problems;
  },

  outbound(ctx) {
    const sink = ctx.config.sink;
    if (!sink) return { api: {}, close: async () => {} };
    const agent = createOutboundAgent({ allowPrivateNetworks: sink.allowPrivateNetworks });
    const client = createHttpClient({ baseUrl: sink.url, timeout: sink.timeout, retries: sink.retries, countOutbound: ctx.countOutbound, ...(sink.token ? { auth: { type: 'bearer' as const, token: sink.token } } : {}) }, agent);
    const api: CloudEventsSinkApi = {
      async send(input) {
        const event = createCloudEvent(input);
        const request =
          sink.mode === 'structured'
            ? { headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' }, body: JSON.stringify(event) }
            : binaryModeRequest(event);
        const res = await client.request({ method: 'POST', headers: request.headers, ...(request.body !== undefined ? { body: request.body } : {}) });
        return { status: res.status };
      },
    };
    return { api, close: () => agent.close() };
  },

  inbound(ctx) {
    const config: CloudEventsConfig = ctx.config;
    const path = config.path ?? `/hooks/${ctx.name}`;
    const verify = createVerifier(toWebhookConfig(config));
    const unmounts: (() => void)[] = [];
    return {
      async start(io) {
        if (!config.auth) return; // a sink only
        if (!io.http) throw new Error(`cloudevents connector "${ctx.name}" needs the gateway role`);
        unmounts.push(
          io.http.route({
            connector: ctx.name,
            method: 'POST',
            path,
            ...(config.bodyLimit !== undefined ? { bodyLimit: toBytes(config.bodyLimit) } : {}),
            handle: async (request) => {
              try {
                verify(request);
                const events = readEvents(request, config.maxBatch).map((e) => (e.connector === undefined ? { ...e, connector: ctx.name } : e));
                if (events.length) await io.publish(events);
                ctx.log.info({ eventIds: events.map((e) => e.id), outcome: 'accepted' }, 'events accepted');
                const ids = events.map((e) => e.id);
                const headers: Record<string, string> = ids.length === 1 ? { 'switchboard-event-id': ids[0]! } : {};
                return { status: 202, headers, body: { ids, status: 'accepted' } };
              } catch (err) {
                if (err instanceof HttpError) ctx.log.info({ outcome: 'rejected', status: err.status, reason: err.message }, 'event rejected');
                throw err;
              }
            },
          }),
          // CloudEvents webhook spec, abuse protection: the sender asks before it sends.
          io.http.route({
            method: 'OPTIONS',
            path,
            handle: async (request) => {
              const origin = request.headers['webhook-request-origin'];
              if (typeof origin !== 'string') return { status: 400, body: { error: 'SWB_ERR_HTTP_REQUEST', message: 'missing WebHook-Request-Origin header' } };
              const allowed = config.allowedOrigins.includes('*') || config.allowedOrigins.includes(origin);
              if (!allowed) return { status: 403, body: { error: 'SWB_ERR_HTTP_REQUEST', message: `origin ${origin} is not allowed` } };
              return { status: 200, headers: { 'webhook-allowed-origin': config.allowedOrigins.includes('*') ? '*' : origin, allow: 'POST, OPTIONS' } };
            },
          }),
        );
      },
      async close() {
        for (const unmount of unmounts.splice(0)) unmount();
      },
    };
  },
});
