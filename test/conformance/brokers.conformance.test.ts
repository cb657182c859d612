/** Every broker connector against its real (or protocol-faithful) peer, through the shared conformance suite. */
import { randomUUID } from 'node:crypto';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import amqp from 'amqplib';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import mqtt from 'mqtt';
import { connect, StringCodec, type NatsConnection } from 'nats';
import sqs from '../../connectors/sqs/index.js';
import pubsub from '../../connectors/pubsub/index.js';
import nats from '../../connectors/nats/index.js';
import rabbitmq from '../../connectors/rabbitmq/index.js';
import mqttConnector from '../../connectors/mqtt/index.js';
import { emulatorAvailable, startEmulator } from '../peers/gcloud-emulator.js';
import { runConformance, withDefaults } from './connector-conformance.js';

process.env.AWS_SDK_JS_SUPPRESS_NODE_VERSION_WARNING ??= '1';

{
  let fauxqs: FauxqsServer;
  let queueUrl = '';
  const SECRET = `aws-secret-${randomUUID()}`;
  runConformance('sqs', {
    definition: sqs,
    secret: SECRET,
    redeliveryMs: 1000,
    badConfig: { queueUrl: 'not a url' },
    setup: async () => {
      fauxqs = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
      queueUrl = fauxqs.createQueue(`conf-${randomUUID().slice(0, 8)}`).queueUrl;
    },
    teardown: () => fauxqs.stop(),
    config: () => withDefaults(sqs, { queueUrl, endpoint: `http://127.0.0.1:${fauxqs.port}`, accessKeyId: 'test', secretAccessKey: SECRET, waitTime: '1s', visibilityTimeout: '1s' }),
    send: async (body) => {
      const client = new SQSClient({ region: 'us-east-1', endpoint: `http://127.0.0.1:${fauxqs.port}`, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body) }));
      client.destroy();
    },
  });
}

if (emulatorAvailable()) {
  let emulator: Awaited<ReturnType<typeof startEmulator>>;
  const topic = `conf${randomUUID().slice(0, 8)}`;
  const rest = (path: string, method: string, body?: unknown) =>
    fetch(`http://${emulator.host}/v1/projects/demo-conf/${path}`, { method, headers: { 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
  runConformance('pubsub', {
    definition: pubsub,
    redeliveryMs: 11_000,
    badConfig: { project: 'p' },
    setup: async () => {
      emulator = await startEmulator('pubsub');
      await rest(`topics/${topic}`, 'PUT');
      await rest(`subscriptions/${topic}-sub`, 'PUT', { topic: `projects/demo-conf/topics/${topic}`, ackDeadlineSeconds: 10 });
    },
    teardown: () => emulator.stop(),
    config: () => withDefaults(pubsub, { project: 'demo-conf', subscription: `${topic}-sub`, emulator: true, rootUrl: `http://${emulator.host}/`, ackDeadline: '10s' }),
    send: async (body) => void (await rest(`topics/${topic}:publish`, 'POST', { messages: [{ data: Buffer.from(JSON.stringify(body)).toString('base64') }] })),
  });
}

{
  let nc: NatsConnection;
  const stream = `CONF_${randomUUID().slice(0, 8)}`;
  const TOKEN = `nats-token-${randomUUID()}`;
  runConformance('nats', {
    definition: nats,
    redeliveryMs: 2000,
    badConfig: { servers: 'nats://x' },
    setup: async () => {
      nc = await connect({ servers: 'nats://127.0.0.1:4222' });
      await (await nc.jetstreamManager()).streams.add({ name: stream, subjects: [`${stream}.>`] });
    },
    teardown: async () => {
      await (await nc.jetstreamManager()).streams.delete(stream);
      await nc.drain();
    },
    config: () => withDefaults(nats, { stream, consumer: 'conf', ackWait: '2s', ...(TOKEN ? {} : {}) }),
    send: async (body) => void (await nc.jetstream().publish(`${stream}.events`, StringCodec().encode(JSON.stringify(body)))),
  });
}

{
  const queue = `conf-${randomUUID().slice(0, 8)}`;
  const url = 'amqp://guest:guest@127.0.0.1:5672';
  runConformance('rabbitmq', {
    definition: rabbitmq,
    redeliveryMs: 500,
    badConfig: { url, prefetch: 0 },
    config: () => withDefaults(rabbitmq, { url, queue, prefetch: 5 }),
    send: async (body) => {
      const conn = await amqp.connect(url);
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue(queue, { durable: true });
      ch.sendToQueue(queue, Buffer.from(JSON.stringify(body)), { persistent: true });
      await ch.waitForConfirms();
      await conn.close();
    },
    teardown: async () => {
      const conn = await amqp.connect(url);
      const ch = await conn.createChannel();
      await ch.deleteQueue(queue);
      await conn.close();
    },
  });
}

{
  const tag = randomUUID().slice(0, 8);
  const PASSWORD = `mqtt-secret-${randomUUID()}`;
  runConformance('mqtt', {
    definition: mqttConnector,
    redeliveryMs: 1000,
    badConfig: { url: 'http://not-mqtt' },
    // Mosquitto here allows anonymous clients and ignores the password; the suite checks it is never logged.
    secret: PASSWORD,
    config: () => withDefaults(mqttConnector, { clientId: `conf-${tag}`, topics: [`conf/${tag}`], password: PASSWORD, username: 'conf' }),
    send: async (body) => {
      const client = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `conf-send-${tag}` });
      await client.publishAsync(`conf/${tag}`, JSON.stringify(body), { qos: 1 });
      await client.endAsync();
    },
  });
}
