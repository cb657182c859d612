/**
 * The sqs connector with the real AWS SDK against fauxqs (an SQS peer speaking the SQS protocol):
 * messages become CloudEvents at a function, a function sends back, nothing is deleted before the bus
 * holds its event, 2,000 messages survive a poller killed five times, and poison is dead-lettered.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { Redis } from 'ioredis';
import { findOnPath, startRedisServer } from '../../src/cli/embedded-redis.js';
import { bootSwitchboard, deleteKeys, FIXTURES, REDIS_URL, startRecorder, uniquePrefix, waitFor, type Recorder } from '../../test/helpers/index.js';
import { spawnCli, writeConfig } from '../../test/helpers/cli.js';

process.env.AWS_SDK_JS_SUPPRESS_NODE_VERSION_WARNING ??= '1';
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

describe('sqs connector', () => {
  let fauxqs: FauxqsServer;
  let sqs: SQSClient;
  let recorder: Recorder;
  beforeAll(async () => {
    fauxqs = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
    sqs = new SQSClient({ region: 'us-east-1', endpoint: `http://127.0.0.1:${fauxqs.port}`, credentials });
    recorder = await startRecorder();
  });
  afterAll(async () => {
    sqs.destroy();
    await fauxqs.stop();
    await recorder.close();
  });
  beforeEach(() => {
    recorder.requests.length = 0;
  });

  const endpoint = () => `http://127.0.0.1:${fauxqs.port}`;
  const yaml = (queueUrl: string, replyUrl: string, extra = '') => `
connectors:
  - name: orders
    type: sqs
    config: { queueUrl: "${queueUrl}", endpoint: "${endpoint()}", accessKeyId: "\${env:AWS_KEY}", secretAccessKey: "\${env:AWS_SECRET}", waitTime: 1s, visibilityTimeout: 2s, type: com.example.order ${extra} }
  - name: replies
    type: sqs
    config: { queueUrl: "${replyUrl}", endpoint: "${endpoint()}", accessKeyId: "\${env:AWS_KEY}", secretAccessKey: "\${env:AWS_SECRET}", receive: false }
  - name: recorder
    type: http
    config: { baseUrl: "${recorder.url}", allowPrivateNetworks: true }
functions:
  - name: handle
    runtime: node
    module: ${path.join(FIXTURES, 'functions/sqs-reply.js')}
    trigger: { connector: orders }
    concurrency: 50
`;
  const env = { AWS_KEY: credentials.accessKeyId, AWS_SECRET: credentials.secretAccessKey };
  const seen = () => new Set(recorder.requests.filter((r) => r.url === '/record').map((r) => r.json.event.id as string));

  test('a message arrives at a function as a CloudEvent, and the function sends through the outbound side', async () => {
    const queue = fauxqs.createQueue(`in-${randomUUID().slice(0, 8)}`);
    const replies = fauxqs.createQueue(`out-${randomUUID().slice(0, 8)}`);
    const t = await bootSwitchboard(yaml(queue.queueUrl, replies.queueUrl), { env, listen: false });
    try {
      const sent = await sqs.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: JSON.stringify({ order: 7 }), MessageAttributes: { Tenant: { DataType: 'String', StringValue: 'acme' } } }));
      const [call] = await waitFor(() => recorder.requests.length > 0 && recorder.requests, 'the function');
      expect(call!.json.event).toMatchObject({ id: sent.MessageId, source: queue.queueUrl, type: 'com.example.order', data: { order: 7 }, tenant: 'acme', connector: 'orders', datacontenttype: 'application/json' });
      const reply = await waitFor(async () => (await sqs.send(new ReceiveMessageCommand({ QueueUrl: replies.queueUrl, WaitTimeSeconds: 1, MessageAttributeNames: ['All'] }))).Messages?.[0], 'the reply');
      expect(JSON.parse(reply.Body!)).toEqual({ handled: sent.MessageId });
      expect(reply.MessageAttributes?.kind?.StringValue).toBe('reply');
      await waitFor(() => fauxqs.inspectQueue(queue.queueName)!.messages.inflight.length === 0 && fauxqs.inspectQueue(queue.queueName)!.messages.ready.length === 0, 'the message to be deleted');

      // A structured-mode CloudEvent body is taken as it is.
      await sqs.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: JSON.stringify({ specversion: '1.0', id: 'ce-1', source: '/upstream', type: 'com.example.ce', data: { x: 1 } }) }));
      await waitFor(() => recorder.requests.some((r) => r.json.event.id === 'ce-1' && r.json.event.source === '/upstream' && r.json.event.type === 'com.example.ce'), 'the CloudEvent body');
    } finally {
      await t.close();
    }
  });

  test('SNS envelopes are unwrapped; FIFO group ids are kept; the outbound side sends FIFO batches with group and dedup ids', async () => {
    const queue = fauxqs.createQueue(`fifo-${randomUUID().slice(0, 8)}.fifo`, { attributes: { FifoQueue: 'true' } });
    const replies = fauxqs.createQueue(`out-${randomUUID().slice(0, 8)}`);
    const t = await bootSwitchboard(yaml(queue.queueUrl, replies.queueUrl, ', unwrapSns: true'), { env, listen: false });
    try {
      const envelope = { Type: 'Notification', MessageId: 'sns-1', TopicArn: 'arn:aws:sns:us-east-1:000000000000:orders', Subject: 'order created', Message: JSON.stringify({ order: 9 }), MessageAttributes: { Region: { Type: 'String', Value: 'eu' } } };
      await sqs.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: JSON.stringify(envelope), MessageGroupId: 'customer-42', MessageDeduplicationId: 'd-1' }));
      const event = await waitFor(() => recorder.requests.find((r) => r.json?.event?.id === 'sns-1')?.json.event, 'the unwrapped message');
      expect(event).toMatchObject({ subject: 'order created', data: { order: 9 }, region: 'eu', sqsgroupid: 'customer-42' });

      const { default: definition } = await import('./index.js');
      const outbound = definition.outbound!({ name: 'fifo-out', config: { queueUrl: queue.queueUrl, endpoint: endpoint(), region: 'us-east-1', accessKeyId: 'test', secretAccessKey: 'test' } as never, log: t.logs.log, signal: new AbortController().signal });
      const fifoQueue = fauxqs.createQueue(`batch-${randomUUID().slice(0, 8)}.fifo`, { attributes: { FifoQueue: 'true' } });
      const sender = definition.outbound!({ name: 'fifo-batch', config: { queueUrl: fifoQueue.queueUrl, endpoint: endpoint(), region: 'us-east-1', accessKeyId: 'test', secretAccessKey: 'test' } as never, log: t.logs.log, signal: new AbortController().signal });
      const { messageIds } = await (sender.api as import('./index.js').SqsApi).sendBatch(Array.from({ length: 12 }, (_, i) => ({ json: { i }, groupId: 'g1', dedupId: `dd-${i}`, attributes: { n: i } })));
      expect(messageIds).toHaveLength(12);
      const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: fifoQueue.queueUrl, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['MessageGroupId'] }));
      expect(received.Messages![0]!.Attributes!.MessageGroupId).toBe('g1');
      expect(received.Messages![0]!.MessageAttributes!.n!.DataType).toBe('Number');
      await outbound.close();
      await sender.close();
    } finally {
      await t.close();
    }
  });

  test('a poison message is dead-lettered once with its payload and reason, and does not block the messages behind it', async () => {
    const queue = fauxqs.createQueue(`poison-${randomUUID().slice(0, 8)}`);
    const replies = fauxqs.createQueue(`out-${randomUUID().slice(0, 8)}`);
    const t = await bootSwitchboard(yaml(queue.queueUrl, replies.queueUrl), { env, listen: false });
    try {
      const poison = JSON.stringify({ specversion: '1.0', type: 'x', source: '/bad' });
      await sqs.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: poison }));
      const good = await sqs.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: '"fine"' }));
      await waitFor(() => seen().has(good.MessageId!), 'the message behind the poison');
      const redis = new Redis(REDIS_URL);
      const entries = await waitFor(async () => {
        const list = await redis.xrange(`${t.prefix}:poison`, '-', '+');
        return list.length > 0 && list;
      }, 'the dead letter');
      redis.disconnect();
      expect(entries).toHaveLength(1);
      const fields = Object.fromEntries(Array.from({ length: entries[0]![1].length / 2 }, (_, i) => [entries[0]![1][2 * i], entries[0]![1][2 * i + 1]]));
      expect(fields).toMatchObject({ connector: 'orders', payload: poison, reason: 'invalid CloudEvent attribute "id": is required' });
      await waitFor(() => fauxqs.inspectQueue(queue.queueName)!.messages.ready.length + fauxqs.inspectQueue(queue.queueName)!.messages.inflight.length === 0, 'both to be deleted');
    } finally {
      await t.close();
    }
  });

  const redisServer = findOnPath('redis-server');
  (redisServer ? test : test.skip)('with Redis stopped nothing is deleted; after Redis returns every message is processed', async () => {
    const queue = fauxqs.createQueue(`outage-${randomUUID().slice(0, 8)}`);
    const replies = fauxqs.createQueue(`out-${randomUUID().slice(0, 8)}`);
    let redis = await startRedisServer(redisServer!);
    const t = await bootSwitchboard(yaml(queue.queueUrl, replies.queueUrl).replace('visibilityTimeout: 2s', 'visibilityTimeout: 1s'), { env, listen: false, redisUrl: redis.url });
    try {
      await redis.stop();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await sqs.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: JSON.stringify({ i }) }))).MessageId!);
      // Several receive cycles with Redis down: the messages are received, never deleted.
      await waitFor(() => fauxqs.inspectQueue(queue.queueName)!.messages.inflight.length > 0, 'the poller to receive them');
      await new Promise((r) => setTimeout(r, 3000));
      const q = fauxqs.inspectQueue(queue.queueName)!.messages;
      expect(q.ready.length + q.inflight.length).toBe(5);
      redis = await startRedisServer(redisServer!, { port: redis.port });
      await waitFor(() => ids.every((id) => seen().has(id)), 'every message to be processed after Redis returns', 30_000);
    } finally {
      await t.close().catch(() => {});
      await redis.stop();
    }
  }, 60_000);

  test('2,000 messages while the poller is killed five times: 2,000 distinct events processed, none lost', async () => {
    const queue = fauxqs.createQueue(`soak-${randomUUID().slice(0, 8)}`);
    const replies = fauxqs.createQueue(`out-${randomUUID().slice(0, 8)}`);
    const prefix = uniquePrefix('sqs-soak');
    const file = writeConfig(`redis: { prefix: ${prefix} }\nadmin: { enabled: false }\n` + yaml(queue.queueUrl, replies.queueUrl).replace('visibilityTimeout: 2s', 'visibilityTimeout: 2s, concurrency: 4'));
    const worker = await bootSwitchboard(`redis: { prefix: ${prefix} }\n` + yaml(queue.queueUrl, replies.queueUrl), { env, gateway: false, prefix });
    const sent: string[] = [];
    for (let b = 0; b < 200; b++) {
      const out = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queue.queueUrl, Entries: Array.from({ length: 10 }, (_, i) => ({ Id: String(i), MessageBody: JSON.stringify({ n: b * 10 + i }) })) }));
      sent.push(...out.Successful!.map((s) => s.MessageId!));
    }
    try {
      for (let kill = 0; kill < 5; kill++) {
        const poller = spawnCli(['gateway', '--config', file, '--port', '0'], env);
        const before = seen().size;
        await waitFor(() => seen().size > before + 50 || seen().size === 2000, 'the poller to make progress', 30_000);
        poller.child.kill('SIGKILL');
        await poller.exited;
      }
      const last = spawnCli(['gateway', '--config', file, '--port', '0'], env);
      try {
        await waitFor(() => sent.every((id) => seen().has(id)), 'every message to be processed', 60_000);
      } finally {
        last.child.kill('SIGTERM');
        await last.exited;
      }
      expect(seen().size).toBe(2000);
    } finally {
      await worker.close();
      await deleteKeys(prefix);
    }
  }, 180_000);
});
