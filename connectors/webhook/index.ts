/**
 * Inbound webhooks: verify the signature on the raw body, map the request to a CloudEvent,
 * answer 202 only once the bus holds it.
 */
import { randomUUID } from 'node:crypto';
import type { ConfigProblem } from '../../src/registry/contract.js';
import { defineConnector } from '../../src/registry/contract.js';
import { createCloudEvent, CloudEventError, type CloudEvent } from '../../src/events/cloudevent.js';
import { compileTemplate, templateRoots, type CompiledTemplate } from '../../src/events/template.js';
import { HttpError } from '../../src/gateway/http-error.js';
import { toBytes } from '../../src/config/units.js';
import { parsePayload } from './payload.js';
import { WebhookConfigSchema, type WebhookConfig } from './schema.js';
import { createVerifier } from './verify.js';

const TEMPLATE_ROOTS = ['headers', 'body', 'query'];

export default defineConnector({
  type: 'webhook',
  description: 'Receives signed HTTP webhooks and turns each delivery into a CloudEvent.',
  configSchema: WebhookConfigSchema,

  check(config) {
    const problems: ConfigProblem[] = [];
    const { scheme, secret, header } = config.verify;
    if (scheme !== 'none' && !secret) problems.push({ path: ['verify'], message: `missing required field "secret" for scheme ${scheme}` });
    if (scheme === 'hmac' && !header) problems.push({ path: ['verify'], message: 'missing required field "header" for scheme hmac' });
    for (const [attribute, template] of Object.entries(config.event)) {
      for (const root of templateRoots(template ?? '')) {
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
    const verify = createVerifier(config.verify);
    const mapping = {
      type: compileTemplate(config.event.type),
      source: compileTemplate(config.event.source ?? `/switchboard/webhook/${ctx.name}`),
      subject: config.event.subject ? compileTemplate(config.event.subject) : undefined,
      id: config.event.id ? compileTemplate(config.event.id) : undefined,
    };
    let unmount: (() => void) | undefined;

    return {
      async start(io) {
        if (!io.http) throw new Error(`webhook connector "${ctx.name}" needs the gateway role`);
        unmount = io.http.route({
          method: 'POST',
          path,
          ...(config.bodyLimit !== undefined ? { bodyLimit: toBytes(config.bodyLimit) } : {}),
          handle: async (request) => {
            try {
              verify(request);
              const payload = parsePayload(request.rawBody, request.headers['content-type']);
              const scope = { headers: request.headers, body: payload.value, query: request.query };
              const event = buildEvent(ctx.name, mapping, scope, payload);
              await io.publish([event]);
              ctx.log.info({ eventId: event.id, type: event.type, outcome: 'accepted' }, 'event accepted');
              return { status: 202, headers: { 'switchboard-event-id': event.id }, body: { id: event.id, status: 'accepted' } };
            } catch (err) {
              if (err instanceof HttpError) {
                ctx.log.info({ outcome: 'rejected', status: err.status, reason: err.message }, 'event rejected');
              }
              throw err;
            }
          },
        });
      },
      async close() {
        unmount?.();
        unmount = undefined;
      },
    };
  },
});

interface Mapping {
  type: CompiledTemplate;
  source: CompiledTemplate;
  subject: CompiledTemplate | undefined;
  id: CompiledTemplate | undefined;
}

function buildEvent(connector: string, mapping: Mapping, scope: Record<string, unknown>, payload: ReturnType<typeof parsePayload>): CloudEvent {
  const required = (attribute: string, template: CompiledTemplate) => {
    const { value, missing } = template(scope);
    if (missing.length) {
      throw new HttpError(400, 'SWB_ERR_HTTP_MAPPING', `cannot map the event ${attribute}: ${missing.join(', ')} is missing from the request`);
    }
    return value;
  };
  const optional = (template: CompiledTemplate | undefined) => {
    const rendered = template?.(scope);
    return rendered && rendered.missing.length === 0 ? rendered.value : undefined;
  };
  const type = required('type', mapping.type);
  const source = required('source', mapping.source);
  const subject = optional(mapping.subject);
  try {
    return createCloudEvent({
      id: optional(mapping.id) || randomUUID(),
      source,
      type,
      time: new Date().toISOString(),
      ...(subject ? { subject } : {}),
      ...(payload.datacontenttype ? { datacontenttype: payload.datacontenttype } : {}),
      ...(payload.data !== undefined ? { data: payload.data } : {}),
      ...(payload.data_base64 !== undefined ? { data_base64: payload.data_base64 } : {}),
      connector,
    });
  } catch (err) {
    if (err instanceof CloudEventError) throw new HttpError(400, 'SWB_ERR_HTTP_MAPPING', err.message);
    throw err;
  }
}
