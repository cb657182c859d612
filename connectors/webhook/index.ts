/**
 * Inbound webhooks: rate-limit, answer handshakes, verify the signature on the raw body, map the
 * request to a CloudEvent, and answer 2xx only once the bus holds it. Providers preset all of it.
 */
import { hash, randomUUID } from 'node:crypto';
import { defineConnector, type ConfigProblem, type InboundHttpRequest } from '../../src/registry/contract.js';
import { isMediaType, isValidTimestamp, nowIso, type CloudEvent } from '../../src/events/cloudevent.js';
import { compileTemplate, templateRoots, type CompiledTemplate } from '../../src/events/template.js';
import { HttpError } from '../../src/gateway/http-error.js';
import { toBytes, toMilliseconds } from '../../src/config/units.js';
import { parsePayload } from './payload.js';
import { createVerifier, hmacSpecOf, PRESETS, schemeOf, secretsOf, type MappedAttributes, type Preset, type Scope } from './providers.js';
import { WebhookConfigSchema, type WebhookConfig } from './schema.js';
import { RateLimiter } from './rate-limit.js';

const TEMPLATE_ROOTS = ['headers', 'body', 'query'];
const NEEDS_SECRET = new Set(['github', 'stripe', 'slack', 'shopify', 'twilio', 'gitlab', 'standard-webhooks', 'zoom', 'meta', 'msgraph', 'hmac', 'bearer', 'basic']);

export default defineConnector({
  type: 'webhook',
  description: 'Receives HTTP webhooks (GitHub, Stripe, Slack, Standard Webhooks, any HMAC scheme…) and turns each delivery into a CloudEvent.',
  configSchema: WebhookConfigSchema,

  check(config) {
    const problems: ConfigProblem[] = [];
    const scheme = schemeOf(config);
    if (!scheme) problems.push({ path: [], message: 'missing required field "verify" (or set "provider")' });
    if (scheme && NEEDS_SECRET.has(scheme) && secretsOf(config).length === 0) {
      problems.push({ path: [], message: `missing required field "secret" (or "secrets") for scheme ${scheme}` });
    }
    if (scheme === 'hmac' && !config.verify?.header) problems.push({ path: ['verify'], message: 'missing required field "header" for scheme hmac' });
    if (scheme === 'twilio' && !config.publicUrl) problems.push({ path: [], message: 'missing required field "publicUrl" for twilio: the URL Twilio calls, which it signs' });
    if (scheme === 'discord' && !config.publicKey) problems.push({ path: [], message: 'missing required field "publicKey" for discord' });
    if (scheme === 'basic' && !config.username) problems.push({ path: [], message: 'missing required field "username" for scheme basic' });
    if (config.provider === 'meta' && !config.verifyToken) problems.push({ path: [], message: 'missing required field "verifyToken" for meta (the subscription handshake)' });
    const spec = hmacSpecOf(config);
    if (spec && spec.timestampHeader === undefined && spec.pairTimestampKey === undefined && spec.signedPayload.includes('{timestamp}')) {
      problems.push({ path: ['verify', 'signedPayload'], message: '{timestamp} is signed but no timestampHeader or timestampKey says where it is' });
    }
    for (const attribute of ['type', 'source', 'subject', 'id'] as const) {
      for (const root of templateRoots(config.event[attribute] ?? '')) {
        if (!TEMPLATE_ROOTS.includes(root)) {
          problems.push({ path: ['event', attribute], message: `template placeholder {${root}…} must start with one of: ${TEMPLATE_ROOTS.join(', ')}` });
        }
      }
    }
    return problems;
  },

  inbound(ctx) {
    const config: WebhookConfig = ctx.config;
    const path = config.path ?? `/hooks/${ctx.name}`;
    const preset = config.provider ? PRESETS[config.provider] : undefined;
    const verify = createVerifier(config);
    const templates = {
      type: config.event.type ? compileTemplate(config.event.type) : undefined,
      source: config.event.source ? compileTemplate(config.event.source) : undefined,
      subject: config.event.subject ? compileTemplate(config.event.subject) : undefined,
      id: config.event.id ? compileTemplate(config.event.id) : undefined,
    };
    const limiter = config.rateLimit ? new RateLimiter(config.rateLimit.requests, toMilliseconds(config.rateLimit.per)) : undefined;
    const publishOptions = config.dedupWindow !== undefined ? { dedupWindowMs: toMilliseconds(config.dedupWindow) } : {};
    const bodyLimit = config.bodyLimit !== undefined ? { bodyLimit: toBytes(config.bodyLimit) } : {};
    const unmounts: (() => void)[] = [];

    return {
      async start(io) {
        if (!io.http) throw new Error(`webhook connector "${ctx.name}" needs the gateway role`);
        const handle = async (request: InboundHttpRequest) => {
          try {
            const wait = limiter?.take();
            if (wait !== undefined) {
              throw new HttpError(429, 'SWB_ERR_HTTP_RATE_LIMITED', `more than ${config.rateLimit!.requests} requests per ${config.rateLimit!.per}`, { 'retry-after': String(wait) });
            }
            const early = preset?.unsignedHandshake?.(request, config);
            if (early) return early;
            verify(request);
            const payload = parsePayload(request.rawBody, request.headers['content-type']);
            const scope: Scope = { headers: request.headers, body: payload.value, query: request.query };
            const handshake = preset?.handshake?.(scope, config);
            if (handshake) {
              ctx.log.info({ outcome: 'handshake' }, 'handshake answered');
              return handshake;
            }
            const event = buildEvent(ctx.name, preset, templates, config.event.idFallback, scope, request.rawBody, payload);
            await io.publish([event], payload.json === undefined ? publishOptions : { ...publishOptions, dataJson: [payload.json] });
            ctx.log.info({ eventId: event.id, type: event.type, outcome: 'accepted' }, 'event accepted');
            return preset?.accepted?.(scope, event.id) ?? { status: 202, headers: { 'switchboard-event-id': event.id }, body: { id: event.id, status: 'accepted' } };
          } catch (err) {
            if (err instanceof HttpError) ctx.log.info({ outcome: 'rejected', status: err.status, reason: err.message }, 'event rejected');
            throw err;
          }
        };
        unmounts.push(io.http.route({ connector: ctx.name, method: 'POST', path, ...bodyLimit, handle }));
        if (preset?.get) unmounts.push(io.http.route({ connector: ctx.name, method: 'GET', path, handle }));
      },
      async close() {
        for (const unmount of unmounts.splice(0)) unmount();
      },
    };
  },
});

interface Templates {
  type: CompiledTemplate | undefined;
  source: CompiledTemplate | undefined;
  subject: CompiledTemplate | undefined;
  id: CompiledTemplate | undefined;
}

function buildEvent(
  connector: string,
  preset: Preset | undefined,
  templates: Templates,
  idFallback: 'body-hash' | 'random',
  scope: Scope,
  rawBody: Buffer,
  payload: ReturnType<typeof parsePayload>,
): CloudEvent {
  const mapped: MappedAttributes = preset?.map(scope) ?? {};
  const render = (attribute: keyof Templates, required: boolean): string | undefined => {
    const template = templates[attribute];
    if (!template) return mapped[attribute];
    const { value, missing } = template(scope as unknown as Record<string, unknown>);
    if (missing.length === 0) return value;
    if (required) throw new HttpError(400, 'SWB_ERR_HTTP_MAPPING', `cannot map the event ${attribute}: ${missing.join(', ')} is missing from the request`);
    return undefined;
  };
  const type = render('type', true) ?? (preset ? undefined : 'dev.switchboard.webhook');
  if (!type) throw new HttpError(400, 'SWB_ERR_HTTP_MAPPING', 'cannot map the event type: the request does not say which event it is');
  const source = render('source', true) ?? `/switchboard/webhook/${connector}`;
  const subject = render('subject', false);
  const id = render('id', false) ?? (idFallback === 'body-hash' ? 'sha256-' + hash('sha256', rawBody).slice(0, 40) : randomUUID());
  // Built directly rather than through parseCloudEvent (this is the hot path): every attribute is a
  // non-empty string by construction; only the two that come from the request need checking.
  const time = mapped.time ?? nowIso();
  if (mapped.time !== undefined && !isValidTimestamp(time)) throw new HttpError(400, 'SWB_ERR_HTTP_MAPPING', `the request's timestamp "${time}" is not RFC 3339`);
  if (payload.datacontenttype !== undefined && !isMediaType(payload.datacontenttype)) {
    throw new HttpError(400, 'SWB_ERR_HTTP_BODY_INVALID', `content-type "${payload.datacontenttype}" is not a media type`);
  }
  const event: CloudEvent = { specversion: '1.0', id, source, type, time };
  if (subject) event.subject = subject;
  if (payload.datacontenttype !== undefined) event.datacontenttype = payload.datacontenttype;
  if (payload.data !== undefined) event.data = payload.data;
  if (payload.data_base64 !== undefined) event.data_base64 = payload.data_base64;
  event.connector = connector;
  // The sender's trace continues through the event (the CloudEvents distributed-tracing extension).
  const traceparent = scope.headers.traceparent;
  if (typeof traceparent === 'string' && /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(traceparent)) {
    event.traceparent = traceparent;
    if (typeof scope.headers.tracestate === 'string') event.tracestate = scope.headers.tracestate;
  }
  return event;
}
