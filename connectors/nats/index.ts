/**
 * NATS JetStream in and out with `nats`. Inbound: a durable consumer with explicit acks; a message is
 * acknowledged only after the bus holds its event, otherwise negatively acknowledged for redelivery.
 * The event id is derived from the stream and sequence, so a redelivery is deduplicated.
 * Outbound: publish, acknowledged by the stream.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Consumer, JsMsg, NatsConnection } from 'nats';

// The client library loads with the first connector that uses it, not with every gateway.
const natsLibrary = () => import('nats');
import { SecretString } from '../../src/config/schema.js';
import { Duration, toMilliseconds } from '../../src/config/units.js';
import { eventFromMessage } from '../../src/events/message.js';
import { defineConnector } from '../../src/registry/contract.js';
import { deliver } from '../../src/registry/delivery.js';

export const NatsConfigSchema = Type.Object(
  {
    servers: Type.Array(Type.String({ minLength: 1 }), { default: ['nats://127.0.0.1:4222'] }),
    token: Type.Optional(SecretString()),
    user: Type.Optional(Type.String()),
    password: Type.Optional(SecretString()),
    stream: Type.String({ minLength: 1, description: 'JetStream stream' }),
    consumer: Type.Optional(Type.String({ minLength: 1, description: 'durable consumer to receive through; created when missing' })),
    filterSubject: Type.Optional(Type.String({ minLength: 1 })),
    maxAckPending: Type.Integer({ minimum: 1, default: 100, description: 'messages in flight' }),
    ackWait: Duration({ default: '30s', description: 'how long JetStream waits for an ack before redelivering' }),
    type: Type.String({ minLength: 1, default: 'io.nats.message' }),
  },
  { additionalProperties: false },
);
export type NatsConfig = Static<typeof NatsConfigSchema>;

export interface NatsApi {
  publish(subject: string, message: { json?: unknown; data?: string; headers?: Record<string, string>; msgId?: string }): Promise<{ stream: string; seq: number }>;
}

const open = async (config: NatsConfig) =>
  (await natsLibrary()).connect({ servers: config.servers, ...(config.token ? { token: config.token } : {}), ...(config.user ? { user: config.user, pass: config.password ?? '' } : {}) });

export default defineConnector({
  type: 'nats',
  description: 'Receives from and publishes to NATS JetStream.',
  configSchema: NatsConfigSchema,

  inbound(ctx) {
    const config: NatsConfig = ctx.config;
    let nc: NatsConnection | undefined;
    let running: Promise<void> | undefined;
    return {
      async start(io) {
        if (!config.consumer) return;
        nc = await open(config);
        const jsm = await nc.jetstreamManager();
        try {
          await jsm.consumers.info(config.stream, config.consumer);
        } catch {
          await jsm.consumers.add(config.stream, { durable_name: config.consumer, ack_policy: (await natsLibrary()).AckPolicy.Explicit, max_ack_pending: config.maxAckPending, ack_wait: toMilliseconds(config.ackWait) * 1_000_000, ...(config.filterSubject ? { filter_subject: config.filterSubject } : {}) });
        }
        const consumer: Consumer = await nc.jetstream().consumers.get(config.stream, config.consumer);
        const messages = await consumer.consume({ max_messages: config.maxAckPending });
        const options = { connector: ctx.name, log: ctx.log };
        running = (async () => {
          const pending = new Set<Promise<void>>();
          for await (const m of messages as AsyncIterable<JsMsg>) {
            const work: Promise<void> = deliver(io, options, {
              toEvent: () => {
                const attributes: Record<string, string> = { natssubject: m.subject };
                for (const [k, v] of m.headers ?? []) attributes[k] = v.join(',');
                return eventFromMessage({ id: `${config.stream}-${m.seq}`, source: `nats://${config.stream}/${m.subject}`, type: config.type, body: m.string(), attributes, connector: ctx.name, time: new Date(Number(m.info.timestampNanos / 1_000_000)).toISOString() });
              },
              describe: () => ({ id: `${config.stream}-${m.seq}`, payload: m.string() }),
              ack: () => m.ack(),
              retry: () => m.nak(),
            }).finally(() => pending.delete(work));
            pending.add(work);
            if (pending.size >= config.maxAckPending) await Promise.race(pending);
          }
          await Promise.allSettled(pending);
        })();
      },
      async close() {
        // Draining stops the consumer; unacknowledged messages are redelivered to the next one.
        await nc?.drain().catch(() => {});
        await running?.catch(() => {});
      },
    };
  },

  outbound(ctx) {
    const config: NatsConfig = ctx.config;
    let nc: Promise<NatsConnection> | undefined;
    const api: NatsApi = {
      async publish(subject, { json, data, headers, msgId }) {
        const conn = await (nc ??= open(config));
        const h = (await natsLibrary()).headers();
        for (const [k, v] of Object.entries(headers ?? {})) h.set(k, v);
        const ack = await conn.jetstream().publish(subject, new TextEncoder().encode(data ?? JSON.stringify(json ?? null)), { headers: h, ...(msgId ? { msgID: msgId } : {}) });
        return { stream: ack.stream, seq: ack.seq };
      },
    };
    return { api, close: async () => void (await (await nc)?.drain().catch(() => {})) };
  },
});
