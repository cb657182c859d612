/**
 * GCP Pub/Sub through `googleapis` (pubsub v1, `rootUrl` overridable for the emulator and private
 * endpoints). Inbound pull: acknowledge only after the bus holds the events, extend the ack deadline
 * while pending. Inbound push: an HTTP endpoint that verifies the OIDC token Google attaches and answers
 * 2xx only after enqueue. Both follow the CloudEvents Pub/Sub binding. Outbound: publish.
 */
import { createVerify } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { pubsub_v1 } from 'googleapis/build/src/apis/pubsub/v1.js';
import { SecretString, StringEnum } from '../../src/config/schema.js';
import { Duration, toMilliseconds } from '../../src/config/units.js';
import { checkExtension, CloudEventError, parseCloudEvent, type CloudEvent } from '../../src/events/cloudevent.js';
import { eventFromMessage, extensionName } from '../../src/events/message.js';
import { HttpError } from '../../src/gateway/http-error.js';
import { createOutboundAgent, undici } from '../../src/net/outbound.js';
import { defineConnector, type ConfigProblem } from '../../src/registry/contract.js';
import { Poller, PoisonMessageError, type PollSource } from '../../src/registry/poller.js';
import { createHttpClient } from '../http/index.js';
import { googleAuthorization } from '../google/auth.js';

export const PubSubConfigSchema = Type.Object(
  {
    project: Type.String({ minLength: 1 }),
    subscription: Type.Optional(Type.String({ minLength: 1, description: 'pull from this subscription' })),
    topic: Type.Optional(Type.String({ minLength: 1, description: 'publish to this topic (outbound)' })),
    push: Type.Optional(
      Type.Object(
        {
          path: Type.Optional(Type.String({ pattern: '^/[A-Za-z0-9/_.~-]*$', description: 'defaults to /hooks/<name>' })),
          audience: Type.String({ minLength: 1, description: 'the audience set on the push subscription' }),
          serviceAccountEmail: Type.Optional(Type.String({ minLength: 3, description: 'the account the push subscription signs as' })),
          certsUrl: Type.String({ pattern: '^https?://', default: 'https://www.googleapis.com/oauth2/v3/certs', description: "Google's signing keys (JWKS)" }),
          verify: StringEnum(['oidc', 'none'], { default: 'oidc' }),
          allowPrivateNetworks: Type.Boolean({ default: false, description: 'for certsUrl (tests)' }),
        },
        { additionalProperties: false },
      ),
    ),
    rootUrl: Type.String({ pattern: '^https?://', default: 'https://pubsub.googleapis.com/', description: 'the emulator: http://localhost:8085/' }),
    emulator: Type.Boolean({ default: false, description: 'send no credentials (the emulator)' }),
    credentials: Type.Optional(SecretString({ description: 'service-account key JSON; without it, Application Default Credentials' })),
    tokenUri: Type.Optional(Type.String({ pattern: '^https?://' })),
    type: Type.String({ minLength: 1, default: 'google.cloud.pubsub.topic.v1.messagePublished', description: 'type of messages that are not CloudEvents' }),
    batchSize: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    concurrency: Type.Integer({ minimum: 1, maximum: 50, default: 1 }),
    ackDeadline: Duration({ default: '30s' }),
    timeout: Duration({ default: '60s' }),
    retries: Type.Integer({ minimum: 0, maximum: 10, default: 3 }),
  },
  { additionalProperties: false },
);
export type PubSubConfig = Static<typeof PubSubConfigSchema>;

const SCOPES = ['https://www.googleapis.com/auth/pubsub'];

interface PubSubMessage {
  data?: string | null;
  attributes?: Record<string, string> | null;
  messageId?: string | null;
  publishTime?: string | null;
  orderingKey?: string | null;
}

const fullName = (project: string, kind: 'subscriptions' | 'topics', name: string) => (name.startsWith('projects/') ? name : `projects/${project}/${kind}/${name}`);

/** The CloudEvents Pub/Sub binding: `ce-` attributes in binary mode, or a structured event; else a wrapped message. */
export function eventFromPubSub(message: PubSubMessage, context: { source: string; type: string; connector: string }): CloudEvent {
  const attributes = message.attributes ?? {};
  const raw = Buffer.from(message.data ?? '', 'base64').toString('utf8');
  try {
    if (attributes['ce-specversion']) {
      const ce: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(attributes)) {
        if (k.startsWith('ce-')) ce[k.slice(3)] = ['specversion', 'id', 'source', 'type', 'subject', 'time', 'dataschema'].includes(k.slice(3)) ? v : checkExtension(k.slice(3), v);
      }
      const contentType = attributes['content-type'];
      let data: unknown = raw;
      if (contentType && /[/+]json\b/.test(contentType) && raw) data = JSON.parse(raw);
      const event = parseCloudEvent({ ...ce, ...(contentType ? { datacontenttype: contentType } : {}), ...(raw ? { data } : {}) });
      return event.connector === undefined ? { ...event, connector: context.connector } : event;
    }
  } catch (err) {
    throw new PoisonMessageError(err instanceof CloudEventError ? err.message : `undecodable CloudEvent data: ${(err as Error).message}`);
  }
  const extensions: Record<string, string> = {};
  for (const [k, v] of Object.entries(attributes)) {
    const ext = extensionName(k);
    if (ext) extensions[ext] = v;
  }
  if (message.orderingKey) extensions.orderingkey = message.orderingKey;
  return eventFromMessage({
    id: message.messageId ?? '',
    source: context.source,
    type: context.type,
    body: raw,
    attributes: extensions,
    connector: context.connector,
    ...(message.publishTime ? { time: message.publishTime } : {}),
  });
}

interface Jwk {
  kid: string;
  kty: string;
  n: string;
  e: string;
}

/** Verifies Google's push OIDC token: RS256 signature from the JWKS, issuer, audience, expiry, account. */
export function oidcVerifier(options: { certsUrl: string; audience: string; serviceAccountEmail?: string | undefined; allowPrivateNetworks: boolean }) {
  const agent = createOutboundAgent({ allowPrivateNetworks: options.allowPrivateNetworks });
  const certs = createHttpClient({ baseUrl: options.certsUrl, timeout: '10s', retries: 2 }, agent);
  let keys: { at: number; byKid: Map<string, Jwk> } | undefined;
  const fail = (why: string) => new HttpError(401, 'SWB_ERR_HTTP_SIGNATURE', `push token refused: ${why}`);
  const keyFor = async (kid: string): Promise<Jwk | undefined> => {
    if (!keys || Date.now() - keys.at > 3_600_000 || !keys.byKid.has(kid)) {
      const res = await certs.request<{ keys: Jwk[] }>({});
      keys = { at: Date.now(), byKid: new Map(res.data.keys.map((k) => [k.kid, k])) };
    }
    return keys.byKid.get(kid);
  };
  return async (authorization: string | undefined): Promise<void> => {
    if (!authorization?.startsWith('Bearer ')) throw fail('missing bearer token');
    const [h, p, s] = authorization.slice(7).trim().split('.');
    if (!h || !p || !s) throw fail('malformed token');
    let header: { alg?: string; kid?: string };
    let claims: { iss?: string; aud?: string; exp?: number; email?: string; email_verified?: boolean };
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString());
      claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    } catch {
      throw fail('malformed token');
    }
    if (header.alg !== 'RS256' || !header.kid) throw fail('unexpected algorithm');
    const jwk = await keyFor(header.kid);
    if (!jwk) throw fail('unknown signing key');
    const valid = createVerify('RSA-SHA256').update(`${h}.${p}`).verify({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' }, Buffer.from(s, 'base64url'));
    if (!valid) throw fail('bad signature');
    if (claims.iss !== 'https://accounts.google.com' && claims.iss !== 'accounts.google.com') throw fail('wrong issuer');
    if (claims.aud !== options.audience) throw fail('wrong audience');
    if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now() - 60_000) throw fail('expired');
    if (options.serviceAccountEmail && (claims.email !== options.serviceAccountEmail || claims.email_verified !== true)) throw fail('wrong service account');
  };
}

export interface PubSubApi {
  publish(message: { json?: unknown; data?: string; attributes?: Record<string, string>; orderingKey?: string }): Promise<{ messageId: string }>;
}

async function pubsubClient(config: PubSubConfig): Promise<pubsub_v1.Pubsub> {
  const { pubsub } = await import('googleapis/build/src/apis/pubsub/index.js');
  return pubsub({ version: 'v1', rootUrl: config.rootUrl });
}

export default defineConnector({
  type: 'pubsub',
  description: 'Receives from GCP Pub/Sub (pull or push) and publishes to it.',
  configSchema: PubSubConfigSchema,
  check(config) {
    const problems: ConfigProblem[] = [];
    if (!config.subscription && !config.topic && !config.push) problems.push({ path: [], message: 'set "subscription" (pull), "push", "topic" (publish), or several' });
    return problems;
  },

  inbound(ctx) {
    const config: PubSubConfig = ctx.config;
    const agent = createOutboundAgent({ allowPrivateNetworks: true });
    const authorization = googleAuthorization({ ...config, scopes: SCOPES, anonymous: config.emulator }, agent);
    const subscription = config.subscription ? fullName(config.project, 'subscriptions', config.subscription) : undefined;
    const context = { source: `//pubsub.googleapis.com/${subscription ?? `projects/${config.project}`}`, type: config.type, connector: ctx.name };
    let poller: Poller<pubsub_v1.Schema$ReceivedMessage> | undefined;
    const unmounts: (() => void)[] = [];
    return {
      async start(io) {
        if (subscription) {
          const ackDeadlineSeconds = Math.ceil(toMilliseconds(config.ackDeadline) / 1000);
          // The REST calls directly, so a pull in progress is really aborted on close (an orphaned pull
          // would take messages nobody acknowledges).
          const call = async <T>(verb: string, body: object, signal?: AbortSignal): Promise<T> => {
            const auth = await authorization();
            const res = await undici().fetch(`${config.rootUrl.replace(/\/+$/, '')}/v1/${subscription}:${verb}`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
              body: JSON.stringify(body),
              dispatcher: agent,
              signal: signal ?? AbortSignal.timeout(toMilliseconds(config.timeout)),
            });
            const text = await res.text();
            if (!res.ok) throw new Error(`Pub/Sub ${verb} answered ${res.status}: ${text.slice(0, 300)}`);
            return (text ? JSON.parse(text) : {}) as T;
          };
          const source: PollSource<pubsub_v1.Schema$ReceivedMessage> = {
            async pull(max, signal) {
              try {
                const res = await call<{ receivedMessages?: pubsub_v1.Schema$ReceivedMessage[] }>('pull', { maxMessages: max }, AbortSignal.any([signal, AbortSignal.timeout(toMilliseconds(config.timeout))]));
                return res.receivedMessages ?? [];
              } catch (err) {
                if (signal.aborted) return [];
                throw err;
              }
            },
            async ack(messages) {
              if (messages.length) await call('acknowledge', { ackIds: messages.map((m) => m.ackId!) });
            },
            async extend(messages) {
              await call('modifyAckDeadline', { ackIds: messages.map((m) => m.ackId!), ackDeadlineSeconds });
            },
            describe: (m) => ({ id: m.message?.messageId ?? '', payload: Buffer.from(m.message?.data ?? '', 'base64').toString('utf8') }),
            toEvent: (m) => eventFromPubSub(m.message ?? {}, context),
          };
          poller = new Poller(source, io, { connector: ctx.name, log: ctx.log, batchSize: config.batchSize, concurrency: config.concurrency, extendEveryMs: (ackDeadlineSeconds * 1000) / 2 });
          poller.start();
        }
        if (config.push) {
          if (!io.http) throw new Error(`pubsub connector "${ctx.name}" needs the gateway role for push`);
          const push = config.push;
          const verify = push.verify === 'oidc' ? oidcVerifier(push) : async () => {};
          unmounts.push(
            io.http.route({
              connector: ctx.name,
              method: 'POST',
              path: push.path ?? `/hooks/${ctx.name}`,
              handle: async (request) => {
                const auth = request.headers.authorization;
                await verify(Array.isArray(auth) ? auth[0] : auth);
                let message: PubSubMessage;
                let subscriptionName: string | undefined;
                const body = request.rawBody.toString('utf8');
                let wrapped: { message?: PubSubMessage; subscription?: string } | undefined;
                try {
                  wrapped = JSON.parse(body);
                } catch {
                  wrapped = undefined;
                }
                if (wrapped?.message && typeof wrapped.message === 'object') {
                  message = wrapped.message;
                  subscriptionName = wrapped.subscription;
                } else {
                  // Payload unwrapping: the data is the body; metadata comes as headers.
                  const header = (name: string) => (typeof request.headers[name] === 'string' ? (request.headers[name] as string) : undefined);
                  message = { data: request.rawBody.toString('base64'), messageId: header('x-goog-pubsub-message-id') ?? null, publishTime: header('x-goog-pubsub-publish-time') ?? null, orderingKey: header('x-goog-pubsub-ordering-key') ?? null, attributes: {} };
                  subscriptionName = header('x-goog-pubsub-subscription-name');
                }
                if (!message.messageId) throw new HttpError(400, 'SWB_ERR_HTTP_BODY_INVALID', 'not a Pub/Sub push request: no message id');
                let event: CloudEvent;
                try {
                  event = eventFromPubSub(message, { ...context, source: `//pubsub.googleapis.com/${subscriptionName ?? `projects/${config.project}`}` });
                } catch (err) {
                  if (err instanceof PoisonMessageError) {
                    // Acknowledged (2xx) so Pub/Sub stops retrying; kept where operators see it.
                    await io.deadLetter!({ connector: ctx.name, id: message.messageId, payload: Buffer.from(message.data ?? '', 'base64').toString('utf8'), reason: err.message });
                    return { status: 204 };
                  }
                  throw err;
                }
                await io.publish([event]);
                return { status: 204, headers: { 'switchboard-event-id': event.id } };
              },
            }),
          );
        }
      },
      async close() {
        await poller?.close();
        poller = undefined;
        for (const unmount of unmounts.splice(0)) unmount();
        if (!agent.destroyed && !agent.closed) await agent.close();
      },
    };
  },

  outbound(ctx) {
    const config: PubSubConfig = ctx.config;
    const agent = createOutboundAgent({ allowPrivateNetworks: true });
    const authorization = googleAuthorization({ ...config, scopes: SCOPES, anonymous: config.emulator }, agent);
    const api: PubSubApi = {
      async publish({ json, data, attributes, orderingKey }) {
        if (!config.topic) throw new Error(`pubsub connector "${ctx.name}" has no topic to publish to`);
        const client = await pubsubClient(config);
        const payload = data ?? JSON.stringify(json ?? null);
        const res = await client.projects.topics.publish(
          { topic: fullName(config.project, 'topics', config.topic), requestBody: { messages: [{ data: Buffer.from(payload).toString('base64'), ...(attributes ? { attributes } : {}), ...(orderingKey ? { orderingKey } : {}) }] } },
          { ...(await authorization().then((auth) => (auth ? { headers: { Authorization: auth } } : {}))), timeout: toMilliseconds(config.timeout) },
        );
        return { messageId: res.data.messageIds![0]! };
      },
    };
    return { api, close: () => agent.close() };
  },
});
