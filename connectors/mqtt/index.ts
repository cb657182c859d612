/**
 * MQTT in and out with `mqtt` at QoS 1. Inbound: a persistent session (clean: false), and the PUBACK
 * is sent only after the bus holds the event; otherwise the broker redelivers. Outbound: publish at
 * QoS 1, resolved on the broker's PUBACK.
 */
import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { MqttClient } from 'mqtt';

// The client library loads with the first connector that uses it, not with every gateway.
const mqttLibrary = () => import('mqtt').then((m) => m.default);
import { SecretString } from '../../src/config/schema.js';
import { eventFromMessage } from '../../src/events/message.js';
import { defineConnector } from '../../src/registry/contract.js';
import { deliver } from '../../src/registry/delivery.js';

export const MqttConfigSchema = Type.Object(
  {
    url: Type.String({ pattern: '^(mqtts?|wss?)://', default: 'mqtt://127.0.0.1:1883' }),
    username: Type.Optional(Type.String()),
    password: Type.Optional(SecretString()),
    clientId: Type.Optional(Type.String({ minLength: 1, description: 'stable per replica for a persistent session; defaults to switchboard-<name>' })),
    topics: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'subscribe at QoS 1' }),
    type: Type.String({ minLength: 1, default: 'org.mqtt.message' }),
  },
  { additionalProperties: false },
);
export type MqttConfig = Static<typeof MqttConfigSchema>;

export interface MqttApi {
  publish(topic: string, message: { json?: unknown; data?: string; retain?: boolean }): Promise<void>;
}

const options = (config: MqttConfig, clientId: string, clean: boolean) => ({
  clientId,
  clean,
  protocolVersion: 5 as const,
  // MQTT 5 ends a session at disconnect unless it has an expiry: keep it, so unacknowledged messages are resent.
  ...(clean ? {} : { properties: { sessionExpiryInterval: 86_400 } }),
  ...(config.username ? { username: config.username } : {}),
  ...(config.password ? { password: config.password } : {}),
  reconnectPeriod: 1000,
});

export default defineConnector({
  type: 'mqtt',
  description: 'Subscribes to and publishes on an MQTT broker at QoS 1.',
  configSchema: MqttConfigSchema,

  inbound(ctx) {
    const config: MqttConfig = ctx.config;
    let client: MqttClient | undefined;
    return {
      async start(io) {
        if (config.topics.length === 0) return;
        const deliveryOptions = { connector: ctx.name, log: ctx.log };
        client = (await mqttLibrary()).connect(config.url, {
          ...options(config, config.clientId ?? `switchboard-${ctx.name}`, false),
          // MQTT 5: the PUBACK goes out only once the bus holds the event.
          customHandleAcks: (topic, payload, _packet, done) => {
            // MQTT redelivery keeps topic and payload; the id hashes them so a redelivery deduplicates.
            const id = 'sha256-' + createHash('sha256').update(topic).update('\n').update(payload).digest('hex').slice(0, 40);
            void deliver(io, { ...deliveryOptions, retryDelayMs: 1000 }, {
              toEvent: () => eventFromMessage({ id, source: `mqtt://${topic}`, type: config.type, body: payload.toString('utf8'), attributes: { mqtttopic: topic }, connector: ctx.name }),
              describe: () => ({ id, payload: payload.toString('utf8') }),
              ack: () => done(null as unknown as Error, 0),
              // No PUBACK: dropping the connection makes the broker resend unacknowledged messages of
              // the persistent session when the client reconnects.
              retry: () => {
                client?.stream.destroy();
              },
            });
          },
        });
        client.on('error', (err) => ctx.log.warn({ err: err.message }, 'mqtt error'));
        await new Promise<void>((resolve, reject) => {
          client!.once('connect', () => client!.subscribe(config.topics, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
          client!.once('error', reject);
        });
      },
      async close() {
        await client?.endAsync().catch(() => {});
      },
    };
  },

  outbound(ctx) {
    const config: MqttConfig = ctx.config;
    let client: Promise<MqttClient> | undefined;
    const connected = () => (client ??= mqttLibrary().then((mqtt) => mqtt.connectAsync(config.url, options(config, `${config.clientId ?? `switchboard-${ctx.name}`}-out-${process.pid}`, true))));
    const api: MqttApi = {
      async publish(topic, { json, data, retain }) {
        await (await connected()).publishAsync(topic, data ?? JSON.stringify(json ?? null), { qos: 1, retain: retain ?? false });
      },
    };
    return { api, close: async () => void (await (await client)?.endAsync().catch(() => {})) };
  },
});
