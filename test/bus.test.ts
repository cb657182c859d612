/** Routing and enqueueing on real Redis. */
import { Bus, jobIdFor } from '../src/bus/bus.js';
import { compileTrigger, Router } from '../src/bus/router.js';
import type { FunctionConfig } from '../src/config/load.js';
import type { CloudEvent } from '../src/events/cloudevent.js';
import { Worker } from 'bullmq';
import { captureLogs, dedupHolders, deleteKeys, functionConfig, REDIS_URL, uniquePrefix, waitFor } from './helpers/index.js';

const event = (attrs: Partial<CloudEvent> & Record<string, unknown> = {}): CloudEvent => ({ specversion: '1.0', id: 'e1', source: '/s', type: 'com.example.a', ...attrs });

describe('triggers', () => {
  test('exact, prefix and suffix matches on any attribute', () => {
    const m = compileTrigger({ type: { prefix: 'com.github.' }, source: { suffix: '/hello' }, subject: 'refs/heads/main' } as never);
    expect(m(event({ type: 'com.github.push', source: 'https://github.com/octo/hello', subject: 'refs/heads/main' }))).toBe(true);
    expect(m(event({ type: 'com.gitlab.push', source: 'https://github.com/octo/hello', subject: 'refs/heads/main' }))).toBe(false);
    expect(m(event({ type: 'com.github.push', source: 'https://github.com/octo/other', subject: 'refs/heads/main' }))).toBe(false);
    expect(m(event({ type: 'com.github.push', source: 'https://github.com/octo/hello' }))).toBe(false);
  });

  test('extensions match as strings; all, any and not combine', () => {
    const m = compileTrigger({ all: [{ connector: 'github' }, { any: [{ type: 'a' }, { type: 'b' }] }], not: { priority: '1' } } as never);
    expect(m(event({ connector: 'github', type: 'a', priority: 2 }))).toBe(true);
    expect(m(event({ connector: 'github', type: 'b' }))).toBe(true);
    expect(m(event({ connector: 'github', type: 'c' }))).toBe(false);
    expect(m(event({ connector: 'github', type: 'a', priority: 1 }))).toBe(false);
    expect(m(event({ connector: 'stripe', type: 'a' }))).toBe(false);
  });

  test('the router indexes exact types and still scans the rest', () => {
    const router = new Router([
      { name: 'exact', trigger: { type: 'com.example.a' } as never },
      { name: 'other', trigger: { type: 'com.example.b' } as never },
      { name: 'prefixed', trigger: { type: { prefix: 'com.example.' } } as never },
    ]);
    expect(router.match(event()).map((t) => t.name)).toEqual(['exact', 'prefixed']);
    expect(router.match(event({ type: 'org.other' }))).toEqual([]);
  });
});

describe('bus', () => {
  const prefix = uniquePrefix('bus');
  const fn = (name: string, trigger: object): FunctionConfig => functionConfig(name, { trigger: trigger as never, attempts: 4, backoff: { type: 'fixed', delay: 250 } });
  const bus = new Bus({
    redis: REDIS_URL,
    prefix,
    functions: [fn('a', { type: 'com.example.a' }), fn('b', { type: { prefix: 'com.example.' } })],
    dedupWindowMs: 60_000,
    enqueueTimeoutMs: 2000,
    keepCompleted: 10, // the tests read finished jobs
    log: captureLogs().log,
  });
  beforeAll(() => bus.waitUntilReady(5000));
  afterAll(async () => {
    await bus.close();
    await deleteKeys(prefix);
  });

  test('one job per matching function, in that function’s queue, with its retry policy', async () => {
    const e = event({ id: 'fanout-1' });
    expect(await bus.publish([e])).toEqual({ ids: ['fanout-1'], routed: 2, duplicates: 0, routes: [['a', 'b']] });
    for (const name of ['a', 'b']) {
      const job = await bus.queue(name)!.getJob(jobIdFor(name, e));
      expect(job?.data).toEqual(e);
      expect(job?.opts).toMatchObject({ attempts: 4, backoff: { type: 'fixed', delay: 250 } });
    }
  });

  test('job ids derive from function, source and id: a redelivery is not enqueued again', async () => {
    const e = event({ id: 'dup-1' });
    await bus.publish([e]);
    expect((await bus.publish([{ ...e, data: 'different body, same identity' }])).duplicates).toBe(2);
    const jobs = await bus.queue('a')!.getJobs(['waiting']);
    expect(jobs.filter((j) => (j.data as CloudEvent).id === 'dup-1')).toHaveLength(1);
    expect(jobIdFor('a', e)).not.toBe(jobIdFor('a', { ...e, source: '/other' }));
    expect(jobIdFor('a', e)).not.toContain(':');
  });

  test('the dedup window outlives the job run: the id stays remembered for the whole window after completion', async () => {
    const e = event({ id: 'window-1' });
    const before = Date.now();
    await bus.publish([e]);
    const after = Date.now();
    const worker = new Worker('fn.a', async () => 'done', { connection: { url: REDIS_URL }, prefix });
    try {
      await waitFor(async () => (await bus.queue('a')!.getJob(jobIdFor('a', e)))?.isCompleted(), 'the job to complete');
    } finally {
      await worker.close();
    }
    // One of the quarters' sets the publish could have written holds the id, until the window has passed.
    const holders = await dedupHolders(bus.connection, `${prefix}:fn.a:`, 60_000, jobIdFor('a', e), before, after);
    expect(holders).toHaveLength(1);
    const ttl = await bus.connection.pttl(holders[0]!);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(75_000);
  });

  test('an event no trigger matches is kept in the capped unrouted stream', async () => {
    expect(await bus.publish([event({ id: 'lonely', type: 'org.nobody' })])).toEqual({ ids: ['lonely'], routed: 0, duplicates: 0, routes: [[]] });
    const entries = await bus.connection.xrange(`${prefix}:unrouted`, '-', '+');
    expect(entries.map(([, fields]) => JSON.parse(fields[1]!).id)).toContain('lonely');
  });
});
