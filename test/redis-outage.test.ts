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

(redisServer ? describe : describe.skip)('Redis outage under load, timed', () => {
  test('no 2xx while Redis is down, each 503 within the enqueue timeout, readiness fails within 2 s, acceptance back within 10 s', async () => {
    const OUTAGE_MS = Number(process.env.OUTAGE_MS ?? 30_000);
    let redis = await startRedisServer(redisServer!);
    const t = await bootSwitchboard(YAML, { redisUrl: redis.url, worker: false });
    try {
      const send = async () => {
        const started = Date.now();
        const res = await fetch(`${t.sb.url}/hooks/open`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ at: started }) });
        return { status: res.status, ms: Date.now() - started };
      };
      expect((await send()).status).toBe(202);
      await redis.stop();
      const stoppedAt = Date.now();
      const readinessFailed = waitFor(async () => (await fetch(`${t.sb.url}/readyz`)).status === 503 && Date.now() - stoppedAt, 'readiness to fail', 5000);
      const during: { status: number; ms: number }[] = [];
      while (Date.now() - stoppedAt < OUTAGE_MS) {
        during.push(await send());
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(during.length).toBeGreaterThan(10);
      expect(during.filter((r) => r.status < 300)).toEqual([]);
      expect(during.every((r) => r.status === 503)).toBe(true);
      // enqueueTimeout is 500 ms in this config; a dead connection answers faster still.
      expect(Math.max(...during.map((r) => r.ms))).toBeLessThan(1500);
      expect(await readinessFailed).toBeLessThan(2500);

      redis = await startRedisServer(redisServer!, { port: redis.port });
      const backAt = Date.now();
      await waitFor(async () => (await send()).status === 202, 'acceptance to resume', 10_000);
      expect(Date.now() - backAt).toBeLessThan(10_000);
    } finally {
      await t.close().catch(() => {});
      await redis.stop();
    }
  }, 90_000);

  test('Redis at maxmemory with noeviction: no 2xx for an event that was not stored', async () => {
    const redis = await startRedisServer(redisServer!, { args: ['--maxmemory', '2mb'] });
    const t = await bootSwitchboard(YAML, { redisUrl: redis.url, worker: false });
    try {
      const statuses = new Map<number, number>();
      const accepted: string[] = [];
      for (let i = 0; i < 400; i++) {
        const res = await fetch(`${t.sb.url}/hooks/open`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ i, pad: 'x'.repeat(8000) }) });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 202) accepted.push(((await res.json()) as { id: string }).id);
        if ((statuses.get(503) ?? 0) >= 5) break;
      }
      expect(statuses.get(503)).toBeGreaterThanOrEqual(5);
      const queue = new Queue('fn.sink', { connection: { url: redis.url }, prefix: t.prefix });
      const stored = new Set((await queue.getJobs(['waiting'])).map((j) => (j.data as { id: string }).id));
      await queue.close();
      expect(accepted.every((id) => stored.has(id))).toBe(true);
    } finally {
      await t.close().catch(() => {});
      await redis.stop();
    }
  }, 60_000);
});
