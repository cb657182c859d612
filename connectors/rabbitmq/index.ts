/**
 * RabbitMQ (AMQP 0-9-1) in and out with `amqplib`. Inbound: consumer acknowledgements, sent only after
 * the bus holds the event (else the message is requeued); prefetch bounds what is in flight. Outbound:
 * publish on a confirm channel, resolved when the broker confirms.
 */
import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';

// The client library loads with the first connector that uses it, not with every gateway.
const amqp = () => import('amqplib').then((m) => m.default ?? m);
import { SecretString } from '../../src/config/schema.js';
import { eventFromMessage } from '../../src/events/message.js';
import { defineConnector } from '../../src/registry/contract.js';
import { deliver } from '../../src/registry/delivery.js';

export const RabbitMqConfigSchema = Type.Object(
  {
    url: SecretString({ description: 'amqp://user:password@host:5672/vhost (it carries the password)' }),
    queue: Type.Optional(Type.String({ minLength: 1, description: 'consume from this queue (declared durable if missing)' })),
    prefetch: Type.Integer({ minimum: 1, maximum: 10_000, default: 50 }),
    exchange: Type.String({ default: '', description: 'outbound default exchange ("" is the default exchange)' }),
    type: Type.String({ minLength: 1, default: 'com.rabbitmq.message' }),
  },
  { additionalProperties: false },
);
export type RabbitMqConfig = Static<typeof RabbitMqConfigSchema>;

export interface RabbitMqApi {
  /** Publishes persistently and resolves once the broker confirms. */
  publish(routingKey: string, message: { json?: unknown; data?: string; headers?: Record<string, string>; messageId?: string; exchange?: string }): Promise<void>;
}

/** Without a message id, the id is a hash of the delivery, stable across redeliveries. */
function messageId(msg: ConsumeMessage): string {
  return msg.properties.messageId ?? 'sha256-' + createHash('sha256').update(msg.fields.exchange).update('\n').update(msg.fields.routingKey).update('\n').update(msg.content).digest('hex').slice(0, 40);
}

export default defineConnector({
  type: 'rabbitmq',
  description: 'Consumes from and publishes to RabbitMQ.',
  configSchema: RabbitMqConfigSchema,

  inbound(ctx) {
    const config: RabbitMqConfig = ctx.config;
    let connection: ChannelModel | undefined;
    let channel: Channel | undefined;
    return {
      async start(io) {
        if (!config.queue) return;
        connection = await (await amqp()).connect(config.url);
        connection.on('error', (err: Error) => ctx.log.warn({ err: err.message }, 'rabbitmq connection error'));
        channel = await connection.createChannel();
        await channel.assertQueue(config.queue, { durable: true });
        await channel.prefetch(config.prefetch);
        const ch = channel;
        const options = { connector: ctx.name, log: ctx.log };
        await ch.consume(config.queue, (msg) => {
          if (!msg) return;
          void deliver(io, options, {
            toEvent: () => {
              const attributes: Record<string, string> = { amqproutingkey: msg.fields.routingKey };
              for (const [k, v] of Object.entries(msg.properties.headers ?? {})) if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') attributes[k] = String(v);
              return eventFromMessage({
                id: messageId(msg),
                source: `amqp://${config.queue}`,
                type: msg.properties.type ?? config.type,
                body: msg.content.toString('utf8'),
                attributes,
                connector: ctx.name,
                ...(msg.properties.timestamp ? { time: new Date(Number(msg.properties.timestamp) * 1000).toISOString() } : {}),
              });
            },
            describe: () => ({ id: messageId(msg), payload: msg.content.toString('utf8') }),
            ack: () => ch.ack(msg),
            retry: () => ch.nack(msg, false, true),
          });
        });
      },
      async close() {
        await channel?.close().catch(() => {});
        await connection?.close().catch(() => {});
      },
    };
  },

  outbound(ctx) {
    const config: RabbitMqConfig = ctx.config;
    let channel: Promise<ConfirmChannel> | undefined;
    let connection: ChannelModel | undefined;
    const confirmChannel = () =>
      (channel ??= amqp().then((lib) => lib.connect(config.url)).then((c) => {
        connection = c;
        return c.createConfirmChannel();
      }));
    const api: RabbitMqApi = {
      async publish(routingKey, { json, data, headers, messageId: id, exchange }) {
        const ch = await confirmChannel();
        const content = Buffer.from(data ?? JSON.stringify(json ?? null));
        await new Promise<void>((resolve, reject) =>
          ch.publish(exchange ?? config.exchange, routingKey, content, { persistent: true, contentType: data === undefined ? 'application/json' : 'text/plain', ...(headers ? { headers } : {}), ...(id ? { messageId: id } : {}) }, (err) => (err ? reject(err) : resolve())),
        );
      },
    };
    return { api, close: async () => void (await connection?.close().catch(() => {})) };
  },
});
