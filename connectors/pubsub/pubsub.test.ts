/**
 * The pubsub connector against Google's own Pub/Sub emulator (pull, publish, ack after enqueue, poison),
 * and push with OIDC tokens the test signs itself (the emulator sends none).
 */
import { createSign, generateKeyPairSync, randomUUID } from 'node:crypto';
import path from 'node:path';
import type { CloudEvent } from '../../src/events/cloudevent.js';
import { findOnPath, startRedisServer } from '../../src/cli/embedded-redis.js';
import { bootSwitchboard, FIXTURES, startRecorder, waitFor, type Recorder } from '../../test/helpers/index.js';
import { emulatorAvailable, startEmulator } from '../../test/peers/gcloud-emulator.js';

const PROJECT = 'demo-switchboard';

(emulatorAvailable() ? describe : describe.skip)('pubsub connector on the emulator', () => {
  let emulator: Awaited<ReturnType<typeof startEmulator>>;
  let recorder: Recorder;
  const api = (p: string, method = 'PUT', body?: unknown) =>
    fetch(`http://${emulator.host}/v1/projects/${PROJECT}/${p}`, { method, headers: { 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) }).then(async (r) => {
      if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${await r.text()}`);
      return r.json() as Promise<any>;
    });
  const createPair = async (name: string, ackDeadlineSeconds = 10) => {
    await api(`topics/${name}`);
    await api(`subscriptions/${name}-sub`, 'PUT', { topic: `projects/${PROJECT}/topics/${name}`, ackDeadlineSeconds });
  };
  const publish = (topic: string, message: { data: unknown; attributes?: Record<string, string>; orderingKey?: string }) =>
    api(`topics/${topic}:publish`, 'POST', { messages: [{ data: Buffer.from(typeof message.data === 'string' ? message.data : JSON.stringify(message.data)).toString('base64'), ...(message.attributes ? { attributes: message.attributes } : {}), ...(message.orderingKey ? { orderingKey: message.orderingKey } : {}) }] }).then((r) => r.messageIds[0] as string);

  beforeAll(async () => {
    emulator = await startEmulator('pubsub');
    recorder = await startRecorder();
  }, 90_000);
  afterAll(async () => {
    await emulator?.stop();
    await recorder?.close();
  });

  const yaml = (topic: string, replies: string, extra = '') => `
connectors:
  - { name: incoming, type: pubsub, config: { project: ${PROJECT}, subscription: ${topic}-sub, emulator: true, rootUrl: "http://${emulator.host}/", type: com.example.published ${extra} } }
  - { name: outgoing, type: pubsub, config: { project: ${PROJECT}, topic: ${replies}, emulator: true, rootUrl: "http://${emulator.host}/" } }
  - { name: recorder, type: http, config: { baseUrl: "${recorder.url}", allowPrivateNetworks: true } }
functions:
  - name: relay
    runtime: node
    module: ${path.join(FIXTURES, 'functions/pubsub-relay.js')}
    trigger: { connector: incoming }
`;
  const ids = () => new Set(recorder.requests.filter((r) => r.url === '/record').map((r) => r.json.event.id as string));

  test('a published message arrives as a CloudEvent, and a function publishes back', async () => {
    const name = `t${randomUUID().slice(0, 8)}`;
    await createPair(name);
    await createPair(`${name}-replies`);
    const t = await bootSwitchboard(yaml(name, `${name}-replies`), { listen: false });
    try {
      const id = await publish(name, { data: { order: 3 }, attributes: { Tenant: 'acme' }, orderingKey: 'customer-9' });
      const call = await waitFor(() => recorder.requests.find((r) => r.json?.event?.id === id), 'the function', 20_000);
      expect(call.json.event).toMatchObject({ id, source: `//pubsub.googleapis.com/projects/${PROJECT}/subscriptions/${name}-sub`, type: 'com.example.published', data: { order: 3 }, tenant: 'acme', orderingkey: 'customer-9' });
      const reply = await waitFor(async () => (await api(`subscriptions/${name}-replies-sub:pull`, 'POST', { maxMessages: 1 })).receivedMessages?.[0], 'the reply', 20_000);
      expect(JSON.parse(Buffer.from(reply.message.data, 'base64').toString())).toEqual({ relayed: id });

      // The CloudEvents Pub/Sub binding: ce- attributes make the event.
      await publish(name, { data: { x: 1 }, attributes: { 'ce-specversion': '1.0', 'ce-id': 'bin-1', 'ce-source': '/upstream', 'ce-type': 'com.example.binary', 'content-type': 'application/json' } });
      const binary = await waitFor(() => recorder.requests.find((r) => r.json?.event?.id === 'bin-1'), 'the binary-mode event', 20_000);
      expect(binary.json.event).toMatchObject({ source: '/upstream', type: 'com.example.binary', data: { x: 1 }, datacontenttype: 'application/json' });

      // Poison: claims to be a CloudEvent but has no id; dead-lettered and acknowledged, the next one flows.
      await publish(name, { data: 'x', attributes: { 'ce-specversion': '1.0', 'ce-source': '/bad', 'ce-type': 't' } });
      const after = await publish(name, { data: 'after the poison' });
      await waitFor(() => ids().has(after), 'the message after the poison', 20_000);
      const poison = await t.sb.bus.connection.xrange(`${t.prefix}:poison`, '-', '+');
      expect(poison).toHaveLength(1);
      expect(poison[0]![1]).toEqual(expect.arrayContaining(['reason', 'invalid CloudEvent attribute "id": is required']));
    } finally {
      await t.close();
    }
  }, 60_000);

  const redisServer = findOnPath('redis-server');
  (redisServer ? test : test.skip)('with Redis stopped nothing is acknowledged; after it returns every message is redelivered and processed', async () => {
    const name = `o${randomUUID().slice(0, 8)}`;
    await createPair(name, 10);
    await createPair(`${name}-replies`);
    let redis = await startRedisServer(redisServer!);
    const t = await bootSwitchboard(yaml(name, `${name}-replies`, ', ackDeadline: 10s'), { listen: false, redisUrl: redis.url });
    try {
      await redis.stop();
      const sent: string[] = [];
      for (let i = 0; i < 3; i++) sent.push(await publish(name, { data: { i } }));
      await new Promise((r) => setTimeout(r, 2000));
      redis = await startRedisServer(redisServer!, { port: redis.port });
      await waitFor(() => sent.every((id) => ids().has(id)), 'redelivery after Redis returns', 40_000);
    } finally {
      await t.close().catch(() => {});
      await redis.stop();
    }
  }, 70_000);
});

describe('pubsub push', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'test-key', alg: 'RS256', use: 'sig' };
  const sign = (claims: Record<string, unknown>, kid = 'test-key') => {
    const h = Buffer.from(JSON.stringify({ alg: 'RS256', kid, typ: 'JWT' })).toString('base64url');
    const p = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `${h}.${p}.${createSign('RSA-SHA256').update(`${h}.${p}`).sign(privateKey).toString('base64url')}`;
  };
  const AUDIENCE = 'https://hooks.example.com/hooks/push';
  const good = () => ({ iss: 'https://accounts.google.com', aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600, iat: Math.floor(Date.now() / 1000), email: 'pusher@demo.iam.gserviceaccount.com', email_verified: true });

  test('a valid token is accepted; a missing, expired or wrong-audience token gets 401 and nothing is enqueued', async () => {
    const certs = await startRecorder();
    certs.respond = () => ({ status: 200, body: { keys: [jwk] } });
    const t = await bootSwitchboard(
      `connectors:\n  - { name: push, type: pubsub, config: { project: ${PROJECT}, push: { audience: "${AUDIENCE}", serviceAccountEmail: pusher@demo.iam.gserviceaccount.com, certsUrl: "${certs.url}/certs", allowPrivateNetworks: true } } }\nfunctions:\n  - { name: sink, runtime: node, module: ./functions/record.js, trigger: { connector: push } }\n`,
      { worker: false, listen: false },
    );
    try {
      const body = JSON.stringify({ message: { data: Buffer.from('{"n":1}').toString('base64'), messageId: '136969346945', publishTime: '2026-11-25T09:00:00Z', attributes: { kind: 'test' } }, subscription: `projects/${PROJECT}/subscriptions/push-sub` });
      const post = (token?: string) => t.sb.gateway!.app.inject({ method: 'POST', url: '/hooks/push', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, payload: body });
      const queue = t.sb.bus.queue('sink')!;

      for (const [token, why] of [
        [undefined, 'missing bearer token'],
        [sign({ ...good(), exp: Math.floor(Date.now() / 1000) - 3600 }), 'expired'],
        [sign({ ...good(), aud: 'https://elsewhere.example.com' }), 'wrong audience'],
        [sign({ ...good(), email: 'intruder@evil.example.com' }), 'wrong service account'],
        [sign(good(), 'unknown-kid'), 'unknown signing key'],
      ] as const) {
        const res = await post(token);
        expect([res.statusCode, res.json().message]).toEqual([401, `push token refused: ${why}`]);
      }
      expect(await queue.count()).toBe(0);

      // Payload unwrapping: the data is the body, the metadata in headers.
      const unwrapped = await t.sb.gateway!.app.inject({ method: 'POST', url: '/hooks/push', headers: { 'content-type': 'application/json', authorization: `Bearer ${sign(good())}`, 'x-goog-pubsub-message-id': 'unwrapped-1', 'x-goog-pubsub-subscription-name': `projects/${PROJECT}/subscriptions/raw` }, payload: '{"raw":true}' });
      expect(unwrapped.statusCode).toBe(204);
      expect(((await queue.getJobs(['waiting']))[0]!.data as CloudEvent)).toMatchObject({ id: 'unwrapped-1', data: { raw: true }, source: `//pubsub.googleapis.com/projects/${PROJECT}/subscriptions/raw` });

      const res = await post(sign(good()));
      expect(res.statusCode).toBe(204);
      const job = (await queue.getJobs(['waiting'])).find((j) => (j.data as CloudEvent).id === '136969346945');
      expect(job!.data as CloudEvent).toMatchObject({ id: '136969346945', source: `//pubsub.googleapis.com/projects/${PROJECT}/subscriptions/push-sub`, data: { n: 1 }, kind: 'test', time: '2026-11-25T09:00:00Z' });
    } finally {
      await t.close();
      await certs.close();
    }
  });
});
