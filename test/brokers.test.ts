/**
 * NATS JetStream, RabbitMQ and MQTT with their own clients against the local servers: a message published
 * upstream arrives at a function as a CloudEvent, and the function publishes back through the outbound
 * side; the reply is read back from the broker.
 */
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { connect, StringCodec } from 'nats';
import { bootSwitchboard, startRecorder, waitFor, type Recorder } from './helpers/index.js';

let recorder: Recorder;
beforeAll(async () => {
  recorder = await startRecorder();
});
afterAll(() => recorder.close());

const recorderYaml = () => `  - { name: recorder, type: http, config: { baseUrl: "${recorder.url}", allowPrivateNetworks: true } }`;
const relayFunction = (connector: string) => `functions:\n  - { name: relay, runtime: node, module: ./functions/broker-relay.js, trigger: { connector: ${connector} } }\n`;
const recorded = (predicate: (event: any) => boolean) => waitFor(() => recorder.requests.find((r) => r.url === '/record' && predicate(r.json.event))?.json.event, 'the function to run', 15_000);

test('NATS JetStream: in through a durable consumer with explicit acks, out through the stream', async () => {
  const tag = randomUUID().slice(0, 8);
  const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: `SWB_${tag}`, subjects: [`swbt.${tag}.>`] });
  const replies = nc.subscribe(`swbt.${tag}.replies`, { max: 1 });
  const t = await bootSwitchboard(
    `connectors:\n  - { name: nats-in, type: nats, config: { stream: SWB_${tag}, consumer: relay, filterSubject: "swbt.${tag}.orders" } }\n  - { name: nats-out, type: nats, config: { stream: SWB_${tag} } }\n${recorderYaml()}\n${relayFunction('nats-in')}`,
    { listen: false },
  );
  try {
    const h = (await import('nats')).headers();
    h.set('Tenant', 'acme');
    const ack = await nc.jetstream().publish(`swbt.${tag}.orders`, StringCodec().encode(JSON.stringify({ via: 'nats-out', to: `swbt.${tag}.replies` })), { headers: h });
    const event = await recorded((e) => e.connector === 'nats-in');
    expect(event).toMatchObject({ id: `SWB_${tag}-${ack.seq}`, source: `nats://SWB_${tag}/swbt.${tag}.orders`, type: 'io.nats.message', tenant: 'acme', natssubject: `swbt.${tag}.orders` });
    for await (const m of replies) expect(JSON.parse(StringCodec().decode(m.data))).toEqual({ relayed: event.id });
    // Acknowledged: nothing pending on the consumer.
    await waitFor(async () => (await jsm.consumers.info(`SWB_${tag}`, 'relay')).num_ack_pending === 0, 'the ack');
  } finally {
    await t.close();
    await jsm.streams.delete(`SWB_${tag}`);
    await nc.drain();
  }
});

test('RabbitMQ: in with consumer acks after enqueue, out with publisher confirms', async () => {
  const tag = randomUUID().slice(0, 8);
  const url = 'amqp://guest:guest@127.0.0.1:5672';
  const conn = await amqp.connect(url);
  const ch = await conn.createChannel();
  await ch.assertQueue(`swbt-out-${tag}`, { durable: false, autoDelete: false });
  const t = await bootSwitchboard(
    `connectors:\n  - { name: rabbit-in, type: rabbitmq, config: { url: "\${env:AMQP_URL}", queue: swbt-in-${tag}, prefetch: 10 } }\n  - { name: rabbit-out, type: rabbitmq, config: { url: "\${env:AMQP_URL}" } }\n${recorderYaml()}\n${relayFunction('rabbit-in')}`,
    { listen: false, env: { AMQP_URL: url } },
  );
  try {
    ch.sendToQueue(`swbt-in-${tag}`, Buffer.from(JSON.stringify({ via: 'rabbit-out', to: `swbt-out-${tag}` })), { messageId: `m-${tag}`, headers: { tenant: 'acme' }, type: 'com.example.order' });
    const event = await recorded((e) => e.connector === 'rabbit-in');
    expect(event).toMatchObject({ id: `m-${tag}`, source: `amqp://swbt-in-${tag}`, type: 'com.example.order', tenant: 'acme', data: { via: 'rabbit-out' } });
    const reply = await waitFor(async () => (await ch.get(`swbt-out-${tag}`, { noAck: true })) || undefined, 'the reply');
    expect(JSON.parse(reply.content.toString())).toEqual({ relayed: `m-${tag}` });
    expect(reply.properties.deliveryMode).toBe(2);
    await waitFor(async () => (await ch.checkQueue(`swbt-in-${tag}`)).messageCount === 0, 'the ack');
  } finally {
    await t.close();
    await ch.deleteQueue(`swbt-in-${tag}`);
    await ch.deleteQueue(`swbt-out-${tag}`);
    await conn.close();
  }
});

test('MQTT: in at QoS 1 with the PUBACK after enqueue, out at QoS 1', async () => {
  const tag = randomUUID().slice(0, 8);
  const watcher = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `swbt-watch-${tag}` });
  await watcher.subscribeAsync(`swbt/${tag}/out`, { qos: 1 });
  const replies: string[] = [];
  watcher.on('message', (_topic, payload) => replies.push(payload.toString()));
  const t = await bootSwitchboard(
    `connectors:\n  - { name: mqtt-in, type: mqtt, config: { clientId: swbt-in-${tag}, topics: ["swbt/${tag}/in"] } }\n  - { name: mqtt-out, type: mqtt, config: { clientId: swbt-out-${tag} } }\n${recorderYaml()}\n${relayFunction('mqtt-in')}`,
    { listen: false },
  );
  try {
    await watcher.publishAsync(`swbt/${tag}/in`, JSON.stringify({ via: 'mqtt-out', to: `swbt/${tag}/out` }), { qos: 1 });
    const event = await recorded((e) => e.connector === 'mqtt-in');
    expect(event).toMatchObject({ source: `mqtt://swbt/${tag}/in`, type: 'org.mqtt.message', mqtttopic: `swbt/${tag}/in` });
    expect(event.id).toMatch(/^sha256-[0-9a-f]{40}$/);
    await waitFor(() => replies.length > 0, 'the reply');
    expect(JSON.parse(replies[0]!)).toEqual({ relayed: event.id });
  } finally {
    await t.close();
    await watcher.endAsync();
  }
});
