/**
 * Redis goes away under a running gateway: senders get 503 (never a 2xx for an event Redis does not
 * hold), readiness fails, and once Redis is back the same gateway accepts again without a restart.
 * Uses a private redis-server on its own port; the shared one on 6379 is never touched.
 */
import { Queue } from 'bullmq';
import { findOnPath, startRedisServer } from '../src/cli/embedded-redis.js';
import { bootSwitchboard, waitFor, type TestSwitchboard } from './helpers/index.js';

const YAML = `
bus:
  enqueueTimeout: 500ms
connectors:
  - name: open
    type: webhook
    config:
      verify: { scheme: none }
functions:
  - name: sink
    runtime: node
    module: ./functions/record.js
    trigger: { type: dev.switchboard.webhook }
`;

const redisServer = findOnPath('redis-server');

(redisServer ? describe : describe.skip)('Redis outage', () => {
  let redis: Awaited<ReturnType<typeof startRedisServer>>;
  let t: TestSwitchboard;
  afterAll(async () => {
    await t?.close().catch(() => {});
    await redis?.stop();
  });

  test('503 while Redis is down, accepting again once it is back, with no restart', async () => {
    redis = await startRedisServer(redisServer!);
    t = await bootSwitchboard(YAML, { redisUrl: redis.url, worker: false });
    const send = (n: number) =>
      fetch(`${t.sb.url}/hooks/open`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n }) });

    const ok = await send(1);
    expect(ok.status).toBe(202);

    await redis.stop();
    const down = await send(2);
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('5');
    expect(await down.json()).toEqual({ error: 'SWB_ERR_BUS_UNAVAILABLE', message: 'the event bus is unavailable; retry later' });
    await waitFor(async () => (await fetch(`${t.sb.url}/readyz`)).status === 503, 'readiness to fail');

    redis = await startRedisServer(redisServer!, { port: redis.port });
    const accepted: string[] = [];
    await waitFor(async () => {
      const res = await send(3);
      if (res.status === 202) accepted.push(((await res.json()) as { id: string }).id);
      else expect(res.status).toBe(503);
      return res.status === 202;
    }, 'the gateway to accept again', 15_000);
    await waitFor(async () => (await fetch(`${t.sb.url}/readyz`)).status === 200, 'readiness to recover');

    // Every event that got a 2xx after the restart is in the new Redis.
    const queue = new Queue('fn.sink', { connection: { url: redis.url }, prefix: t.prefix });
    const ids = (await queue.getJobs(['waiting'])).map((j) => (j.data as { id: string }).id);
    await queue.close();
    expect(ids).toEqual(expect.arrayContaining(accepted));
  });
});
