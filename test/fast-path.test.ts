/** The batched enqueue path on real Redis: batching under load, per-event answers, backpressure. */
import { Bus, jobIdFor } from '../src/bus/bus.js';
import type { FunctionConfig } from '../src/config/load.js';
import type { CloudEvent } from '../src/events/cloudevent.js';
import { Worker } from 'bullmq';
import { bootSwitchboard, captureLogs, deleteKeys, REDIS_URL, uniquePrefix, waitFor } from './helpers/index.js';

const fn = (name: string, extra: Partial<FunctionConfig> = {}): FunctionConfig => ({
  name,
  signature: name,
  queue: `fn.${name}`,
  runtime: { kind: 'node', module: '/dev/null', isolated: false, memoryLimitMb: 128 },
  trigger: { type: 'com.example.load' } as never,
  attempts: 2,
  backoff: { type: 'fixed', delay: 10 },
  timeoutMs: 1000,
  concurrency: 50,
  ...extra,
});
const event = (id: string): CloudEvent => ({ specversion: '1.0', id, source: '/load', type: 'com.example.load', data: { id } });

describe('fast path', () => {
  const prefix = uniquePrefix('fast');
  let bus: Bus;
  beforeAll(async () => {
    bus = new Bus({ redis: REDIS_URL, prefix, functions: [fn('a'), fn('b')], dedupWindowMs: 60_000, enqueueTimeoutMs: 2000, log: captureLogs().log });
    await bus.waitUntilReady(5000);
  });
  afterAll(async () => {
    await bus.close();
    await deleteKeys(prefix);
  });

  test('1,000 concurrent publishes, with duplicates among them, give one job per event and function, each processed by a plain BullMQ worker', async () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `e${i}`);
    const publishes = [...ids, ...ids.slice(0, 100)].map((id) => bus.publish([event(id)]));
    const answers = await Promise.all(publishes);
    expect(answers.every((a) => a.routed === 2)).toBe(true);
    expect(await bus.queue('a')!.getWaitingCount()).toBe(1000);
    expect(await bus.queue('b')!.getWaitingCount()).toBe(1000);

    const seen = new Set<string>();
    const worker = new Worker('fn.a', async (job) => {
      seen.add((job.data as CloudEvent).id);
      expect(job.opts).toMatchObject({ attempts: 2, backoff: { type: 'fixed', delay: 10 }, jobId: job.id });
      expect(job.id).toBe(jobIdFor('a', job.data as CloudEvent));
    }, { connection: { url: REDIS_URL }, prefix, concurrency: 50 });
    try {
      await waitFor(() => seen.size === 1000, 'the worker to process every job', 20_000);
    } finally {
      await worker.close();
    }
    expect(await bus.queue('a')!.getFailedCount()).toBe(0);
  });
});

describe('backpressure', () => {
  test('above a queue’s high-water mark, events for it get 503 with Retry-After, and the backlog stops growing', async () => {
    const t = await bootSwitchboard(
      `
connectors:
  - { name: open, type: webhook, config: { verify: { scheme: none } } }
functions:
  - name: slow-consumer
    runtime: node
    module: ./functions/record.js
    trigger: { connector: open }
    highWaterMark: 5
`,
      { worker: false, listen: false },
    );
    try {
      const statuses: number[] = [];
      let retryAfter: unknown;
      let body: unknown;
      for (let i = 0; i < 8; i++) {
        const res = await t.sb.gateway!.app.inject({ method: 'POST', url: '/hooks/open', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ i }) });
        statuses.push(res.statusCode);
        if (res.statusCode === 503) {
          retryAfter = res.headers['retry-after'];
          body = res.json();
        }
      }
      expect(statuses).toEqual([202, 202, 202, 202, 202, 503, 503, 503]);
      expect(retryAfter).toBe('5');
      expect(body).toEqual({ error: 'SWB_ERR_BUS_BACKPRESSURE', message: 'the event bus is over capacity; retry later' });
      expect(await t.sb.bus.queue('slow-consumer')!.getWaitingCount()).toBe(5);
      expect(t.sb.bus.refusedForBackpressure).toBe(3);
    } finally {
      await t.close();
    }
  });
});
