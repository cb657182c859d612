/** The batched enqueue path on real Redis: batching under load, per-event answers, backpressure. */
import { Bus, jobIdFor } from '../src/bus/bus.js';
import type { FunctionConfig } from '../src/config/load.js';
import type { CloudEvent } from '../src/events/cloudevent.js';
import { QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { coalesceWrites } from '../src/bus/redis.js';
import { BatchingEnqueuer, EnqueueTimeoutError, type JobSpec, type QueueTarget } from '../src/bus/enqueue.js';
import { Journal, JOURNAL_MAX_BATCH, journalLayout, segmentCapacity } from '../src/ops/journal.js';
import { bootSwitchboard, captureLogs, dedupHolders, dedupSetsBetween, deleteKeys, functionConfig, REDIS_URL, uniquePrefix, waitFor } from './helpers/index.js';

const fn = (name: string, extra: Partial<FunctionConfig> = {}): FunctionConfig => functionConfig(name, { concurrency: 50, ...extra });
const event = (id: string): CloudEvent => ({ specversion: '1.0', id, source: '/load', type: 'com.example.load', data: { id } });

/** A bus with one function `a` on its own prefix, closed and cleaned up after `run`. */
async function withBus(tag: string, run: (bus: Bus, prefix: string) => Promise<void>): Promise<void> {
  const prefix = uniquePrefix(tag);
  const bus = new Bus({ redis: REDIS_URL, prefix, functions: [fn('a')], dedupWindowMs: 60_000, enqueueTimeoutMs: 2000, log: captureLogs().log });
  try {
    await bus.waitUntilReady(5000);
    await run(bus, prefix);
  } finally {
    await bus.close();
    await deleteKeys(prefix);
  }
}

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
      // As BullMQ stores the options of a job added without a custom id: the id is the key's.
      expect(job.opts).toMatchObject({ attempts: 2, backoff: { type: 'fixed', delay: 10 } });
      expect(job.opts.jobId).toBeUndefined();
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

describe('the dedup window outlives the job', () => {
  test('a redelivery within the window is a duplicate even after BullMQ removed the finished job (retention trimming, clean, remove)', () =>
    withBus('fastdd', async (bus) => {
      expect((await bus.publish([event('once')])).duplicates).toBe(0);
      const job = await bus.queue('a')!.getJob(jobIdFor('a', event('once')));
      await job!.remove(); // what removeOnComplete/removeOnFail trimming and queue.clean do to old jobs
      expect(await bus.queue('a')!.getJob(jobIdFor('a', event('once')))).toBeUndefined();
      const again = await bus.publish([event('once')]);
      expect(again).toMatchObject({ routed: 1, duplicates: 1 });
      expect(await bus.queue('a')!.getWaitingCount()).toBe(0);
    }));
});

describe('the dedup window, in quarters', () => {
  test('an id is remembered for the whole window across quarters, then forgotten: the same event is enqueued again', () =>
    withBus('fastquarter', async (bus, prefix) => {
      const removeJob = async () => (await bus.queue('a')!.getJob(jobIdFor('a', event('q'))))!.remove();
      expect(await bus.publish([event('q')], { dedupWindowMs: 2000 })).toMatchObject({ routed: 1, duplicates: 0 });
      await removeJob();
      // Two quarters of 500 ms later the id is in an older quarter's set, still within the window.
      await new Promise((r) => setTimeout(r, 1000));
      expect(await bus.publish([event('q')], { dedupWindowMs: 2000 })).toMatchObject({ routed: 1, duplicates: 1 });
      await waitFor(async () => (await bus.connection.keys(`${prefix}:fn.a:dedup:2000:*`)).length === 0, 'the window to pass', 5000);
      expect(await bus.publish([event('q')], { dedupWindowMs: 2000 })).toMatchObject({ routed: 1, duplicates: 0 });
      expect(await bus.queue('a')!.getWaitingCount()).toBe(1);
    }));

  test('windows of different lengths are remembered apart, each set expiring five quarters after its own', () =>
    withBus('fastwindows', async (bus, prefix) => {
      const before = Date.now();
      await bus.publish([event('short')], { dedupWindowMs: 10_000 });
      await bus.publish([event('long')], { dedupWindowMs: 3_600_000 });
      const after = Date.now();
      const holder = async (id: string, windowMs: number) => {
        const [key, ...more] = await dedupHolders(bus.connection, `${prefix}:fn.a:`, windowMs, jobIdFor('a', event(id)), before, after);
        if (!key || more.length) throw new Error(`${id} is not remembered in exactly one set`);
        return key;
      };
      const short = await bus.connection.pttl(await holder('short', 10_000));
      const long = await bus.connection.pttl(await holder('long', 3_600_000));
      expect(short).toBeGreaterThan(9_000);
      expect(short).toBeLessThanOrEqual(12_500);
      expect(long).toBeGreaterThan(3_599_000);
      expect(long).toBeLessThanOrEqual(4_500_000);
    }));
});

describe('a job that outlives its dedup window', () => {
  test('is neither overwritten nor queued twice when its event comes again, alone or among new ones in one call', () =>
    withBus('fastjob', async (bus, prefix) => {
      await bus.publish([event('kept')], { dedupWindowMs: 30 });
      const key = `${prefix}:fn.a:${jobIdFor('a', event('kept'))}`;
      const stored = await bus.connection.hgetall(key);
      await waitFor(async () => (await bus.connection.keys(`${prefix}:fn.a:dedup:30:*`)).length === 0, 'the window to pass');
      const later = { ...event('kept'), data: { changed: true } };
      expect(await bus.publish([later])).toMatchObject({ routed: 1, duplicates: 1 });
      // In one call with new events: those are enqueued, the existing job is left alone.
      expect(await bus.publish([event('new-1'), later, event('new-2')])).toMatchObject({ routed: 3, duplicates: 1 });
      expect(await bus.connection.hgetall(key)).toEqual(stored);
      expect(await bus.connection.lrange(`${prefix}:fn.a:wait`, 0, -1)).toEqual([jobIdFor('a', event('new-2')), jobIdFor('a', event('new-1')), jobIdFor('a', event('kept'))]);
    }));
});

describe("BullMQ's waiting events", () => {
  test('off by default: the queue\'s event stream gets no entry per job; on: QueueEvents listeners see each job waiting', async () => {
    const prefix = uniquePrefix('fastev');
    const quiet = new Bus({ redis: REDIS_URL, prefix, functions: [fn('quiet')], dedupWindowMs: 60_000, enqueueTimeoutMs: 2000, log: captureLogs().log });
    const loud = new Bus({ redis: REDIS_URL, prefix, functions: [fn('loud')], dedupWindowMs: 60_000, enqueueTimeoutMs: 2000, waitingEvents: true, log: captureLogs().log });
    const events = new QueueEvents('fn.loud', { connection: { url: REDIS_URL }, prefix });
    try {
      await Promise.all([quiet.waitUntilReady(5000), loud.waitUntilReady(5000), events.waitUntilReady()]);
      const seen: string[] = [];
      events.on('waiting', ({ jobId }) => seen.push(jobId));
      await quiet.publish([event('q1')]);
      await loud.publish([event('l1'), event('l2')]);
      await waitFor(() => seen.length === 2, 'two waiting events');
      expect(seen).toEqual([jobIdFor('loud', event('l1')), jobIdFor('loud', event('l2'))]);
      expect(await quiet.queue('quiet')!.getWaitingCount()).toBe(1);
      expect(await quiet.connection.xlen(`${prefix}:fn.quiet:events`)).toBe(0);
    } finally {
      await events.close();
      await Promise.all([quiet.close(), loud.close()]);
      await deleteKeys(prefix);
    }
  });
});

/** Records a journal keeps, counted in its segments' blocks (each record after a line break): arrivals and later entries. */
async function kept(redis: Redis, prefix: string): Promise<{ segments: number; arrivals: number; later: number }> {
  const segments = await redis.lrange(`${prefix}:journal:segments`, 0, -1);
  const records = async (key: string) => (await redis.lrange(key, 0, -1)).reduce((n, block) => n + block.split('\n').length - 1, 0);
  let arrivals = 0;
  let later = 0;
  for (const item of segments) {
    const [id, , , countedArrivals, countedLater] = item.split(' ');
    const segment = { arrivals: await records(`${prefix}:journal:log:${id}`), later: await records(`${prefix}:journal:log:${id}:later`) };
    // The segment's item counts what its lists hold.
    expect([Number(countedArrivals), Number(countedLater)]).toEqual([segment.arrivals, segment.later]);
    arrivals += segment.arrivals;
    later += segment.later;
  }
  // Dropped segments leave no list behind.
  expect((await redis.keys(`${prefix}:journal:log:*`)).length).toBeLessThanOrEqual(2 * segments.length);
  return { segments: segments.length, arrivals, later };
}

describe('the event journal', () => {
  const prefix = uniquePrefix('fastj');
  const layout = journalLayout(prefix, { retentionMs: 60_000, maxEvents: 1000 });
  let bus: Bus;
  let journal: Journal;
  beforeAll(async () => {
    bus = new Bus({ redis: REDIS_URL, prefix, functions: [fn('a'), fn('full', { highWaterMark: 1, trigger: { type: 'com.example.full' } as never })], dedupWindowMs: 60_000, enqueueTimeoutMs: 2000, journal: layout, log: captureLogs().log });
    journal = bus.journal!;
    await bus.waitUntilReady(5000);
  });
  afterAll(async () => {
    await bus.close();
    await deleteKeys(prefix);
    await deleteKeys(`${prefix}-small`);
  });

  test('routed, duplicate and unrouted events are journaled with their routes; refused ones are not', async () => {
    await bus.publish([event('r1')], {}, 'hook');
    await journal.close(); // written: the redelivery below joins it in Redis
    await new Promise((r) => setTimeout(r, 5)); // r1 is the oldest arrival
    await bus.publish([event('r1')], {}, 'hook');
    await bus.publish([{ ...event('u1'), type: 'com.example.nobody' }], {}, 'hook');
    await bus.publish([{ ...event('f1'), type: 'com.example.full' }], {}, 'hook');
    await expect(bus.publish([{ ...event('f2'), type: 'com.example.full' }], {}, 'hook')).rejects.toThrow(/high-water mark/);
    await bus.publish([event('no-connector')]);
    await journal.close();

    const r1 = await journal.get('r1');
    expect(r1?.map((e) => e.kind)).toEqual(['received', 'routed', 'received', 'routed']);
    expect(r1?.[0]).toMatchObject({ connector: 'hook', type: 'com.example.load', source: '/load' });
    expect(r1?.[1]).toMatchObject({ to: ['a'] });
    expect(await journal.get('u1')).toMatchObject([{ kind: 'received' }, { kind: 'routed', to: [] }]);
    expect(await journal.get('f1')).toMatchObject([{ kind: 'received' }, { kind: 'routed', to: ['full'] }]);
    expect(await journal.get('f2')).toBeUndefined();
    expect(await journal.get('no-connector')).toBeUndefined();
    // Newest first, a redelivered event once.
    expect((await journal.recent()).map((r) => r.id)).toEqual(['f1', 'u1', 'r1']);
    // A later entry joins the event's arrival, in the order of their times.
    journal.record('r1', { kind: 'attempt', function: 'a', attempt: 1, outcome: 'succeeded', durationMs: 1 });
    await journal.close();
    expect((await journal.get('r1'))?.map((e) => e.kind)).toEqual(['received', 'routed', 'received', 'routed', 'attempt']);
  });

  test('the journal keeps at most maxEvents events: arrivals fill segments, the oldest segment leaves whole', async () => {
    const cappedPrefix = `${prefix}-capped`;
    const capped = journalLayout(cappedPrefix, { retentionMs: 60_000, maxEvents: 16 });
    const small = new Bus({ redis: REDIS_URL, prefix: cappedPrefix, functions: [fn('a')], dedupWindowMs: 60_000, enqueueTimeoutMs: 2000, journal: capped, log: captureLogs().log });
    const reader = small.journal!;
    try {
      await small.waitUntilReady(5000);
      expect(segmentCapacity(16)).toBe(2);
      for (let i = 0; i < 20; i++) {
        await small.publish([event(`c${i}`)], {}, 'hook');
        if (i % 3 === 0) await reader.close(); // in calls of one to three arrivals
      }
      // Several arrivals in one call fill a segment and open the next within the call.
      await small.publish([event('c20'), event('c21'), event('c22')], {}, 'hook');
      await reader.close();
      const { segments, arrivals } = await kept(small.connection, cappedPrefix);
      expect(segments).toBe(8);
      expect(arrivals).toBeGreaterThanOrEqual(15);
      expect(arrivals).toBeLessThanOrEqual(16);
      expect(await reader.get('c0')).toBeUndefined();
      expect(await reader.get('c6')).toBeUndefined();
      expect(await reader.get('c8')).toHaveLength(2);
      expect(await reader.get('c22')).toHaveLength(2);
      // Recent lists every arrival the segments keep, newest first.
      expect((await reader.recent(1000)).map((r) => r.id)).toEqual(Array.from({ length: arrivals }, (_, i) => `c${22 - i}`));
      expect((await reader.recent(3)).map((r) => r.id)).toEqual(['c22', 'c21', 'c20']);
    } finally {
      await small.close();
      await deleteKeys(cappedPrefix);
    }
  });

  test('records read back as they were written, whatever their text: quotes, line breaks, ids that contain other ids', async () => {
    const odd = new Journal(bus.connection, journalLayout(`${prefix}-odd`, { retentionMs: 60_000, maxEvents: 1000 }), captureLogs().log);
    const event = { type: 'com.example."quoted"', source: 'https://example.com/a\nb\\c' };
    const ids = ['e"1\n', 'e', '1', 'e"1\n2', '[e', 'é-ü'];
    try {
      const ms = Date.now();
      const at = new Date(ms).toISOString();
      for (const id of ids) odd.arrive(id, ms, 'hook-é', event, ['a', 'b"c']);
      // An event a function emitted arrives from that function.
      odd.arrive('emitted', ms, { function: 'step-"a"' }, event, []);
      odd.record('e"1\n', { kind: 'attempt', function: 'a', attempt: 1, outcome: 'failed', error: 'two\nlines, "quoted"', durationMs: 3 });
      await odd.close();
      for (const id of ids) {
        expect(await odd.get(id)).toEqual([
          { at, kind: 'received', connector: 'hook-é', type: event.type, source: event.source },
          { at, kind: 'routed', to: ['a', 'b"c'] },
          ...(id === 'e"1\n' ? [{ at: expect.any(String), kind: 'attempt', function: 'a', attempt: 1, outcome: 'failed', error: 'two\nlines, "quoted"', durationMs: 3 }] : []),
        ]);
      }
      expect(await odd.get('emitted')).toEqual([
        { at, kind: 'received', function: 'step-"a"', type: event.type, source: event.source },
        { at, kind: 'routed', to: [] },
      ]);
      expect(await odd.get('"e"')).toBeUndefined();
      expect((await odd.recent()).map((r) => r.id)).toEqual(['emitted', ...ids.slice().reverse()]);
    } finally {
      await deleteKeys(`${prefix}-odd`);
    }
  });

  test('arrivals past the retention leave with the next publish', async () => {
    const shortPrefix = `${prefix}-short`;
    const short = new Bus({ redis: REDIS_URL, prefix: shortPrefix, functions: [fn('a')], dedupWindowMs: 60_000, enqueueTimeoutMs: 2000, journal: journalLayout(shortPrefix, { retentionMs: 100, maxEvents: 1000 }), log: captureLogs().log });
    const shortJournal = short.journal!;
    try {
      await short.waitUntilReady(5000);
      await short.publish([event('old')], {}, 'hook');
      await shortJournal.close();
      expect(await shortJournal.get('old')).toHaveLength(2);
      await new Promise((r) => setTimeout(r, 150));
      await short.publish([event('new')], {}, 'hook');
      await shortJournal.close();
      expect(await shortJournal.get('old')).toBeUndefined();
      expect((await shortJournal.recent()).map((r) => r.id)).toEqual(['new']);
      // Many expired at once (in several segments, each an eighth of the retention long at most): all
      // leave with the next publish, the young ones stay.
      const many = Array.from({ length: 300 }, (_, i) => event(`many-${i}`));
      await short.publish(many, {}, 'hook');
      await shortJournal.close();
      await new Promise((r) => setTimeout(r, 150));
      await short.publish([event('young-1'), event('young-2')], {}, 'hook');
      await shortJournal.close();
      expect((await shortJournal.recent(1000)).map((r) => r.id)).toEqual(['young-2', 'young-1']);
      expect(await kept(short.connection, shortPrefix)).toMatchObject({ arrivals: 2 });
    } finally {
      await short.close();
      await deleteKeys(shortPrefix);
    }
  });

  test('later entries recorded together are written in order, and an event keeps at most its newest entries', async () => {
    const small = new Journal(bus.connection, journalLayout(`${prefix}-small`, { retentionMs: 60_000, maxEvents: 10, maxEntries: 3 }), captureLogs().log);
    for (let attempt = 1; attempt <= 5; attempt++) small.record('busy', { kind: 'attempt', function: 'a', attempt, outcome: 'failed', error: 'x', durationMs: 1 });
    const entries = await waitFor(async () => (await small.get('busy'))?.length === 3 && small.get('busy'), 'the journal entries');
    expect(entries && entries.map((e) => (e as { attempt: number }).attempt)).toEqual([3, 4, 5]);
    // A later turn appends to the same event; entries with line breaks in their text stay one entry.
    small.record('busy', { kind: 'attempt', function: 'a', attempt: 6, outcome: 'failed', error: 'two\nlines', durationMs: 1 });
    const after = await waitFor(async () => (await small.get('busy'))?.some((e) => (e as { attempt: number }).attempt === 6) && small.get('busy'), 'the appended entry');
    expect(after && after.map((e) => (e as { attempt: number }).attempt)).toEqual([4, 5, 6]);
    expect(after && (after[2] as { error: string }).error).toBe('two\nlines');
    // Recent lists arrivals; this event has later entries only.
    expect(await small.recent()).toEqual([]);
  });

  test('later entries wait up to flushDelayMs to share one call, leave at once past the batch bound, and close writes what waits', async () => {
    const connection = new Redis(REDIS_URL);
    const calls: number[] = [];
    const delayed = new Journal(connection, journalLayout(`${prefix}-delayed`, { retentionMs: 60_000, maxEvents: 10_000, flushDelayMs: 80 }), captureLogs().log);
    const commands = connection as unknown as { switchboardJournalAppend: (...args: unknown[]) => Promise<unknown> };
    const append = commands.switchboardJournalAppend.bind(connection);
    commands.switchboardJournalAppend = (...args: unknown[]) => {
      calls.push(Number(args[6]) + Number(args[7])); // arrivals and later entries in the call
      return append(...args);
    };
    const attempt = (n: number) => ({ kind: 'attempt' as const, function: 'a', attempt: n, outcome: 'succeeded' as const, durationMs: 1 });
    try {
      delayed.record('early', attempt(1));
      await new Promise((r) => setTimeout(r, 20));
      delayed.record('late', attempt(1));
      expect(calls).toEqual([]);
      expect(await delayed.get('early')).toBeUndefined();
      await waitFor(async () => (await delayed.get('late')) !== undefined, 'the delayed entries');
      expect(calls).toEqual([2]);
      expect(await delayed.get('early')).toMatchObject([{ kind: 'attempt', attempt: 1 }]);

      for (let i = 0; i < JOURNAL_MAX_BATCH; i++) delayed.record(`bulk-${i}`, attempt(1));
      expect(calls).toEqual([2, JOURNAL_MAX_BATCH]);

      delayed.record('at-close', attempt(2));
      await delayed.close();
      expect(calls).toEqual([2, JOURNAL_MAX_BATCH, 1]);
      expect(await delayed.get('at-close')).toMatchObject([{ attempt: 2 }]);
      expect(await delayed.get(`bulk-${JOURNAL_MAX_BATCH - 1}`)).toHaveLength(1);
    } finally {
      connection.disconnect();
      await deleteKeys(`${prefix}-delayed`);
    }
  });

  test('one publish of more events than Lua can unpack at once (8,000), routed or not, is enqueued and journaled whole', async () => {
    const many = Array.from({ length: 9000 }, (_, i) => event(`bulk-${i}`));
    const result = await bus.publish(many, {}, 'hook');
    expect(result.routed).toBe(9000);
    await journal.close();
    // In order: BullMQ takes from the right, so the first event's job is last in the list, the last event's first.
    const wait = await bus.connection.lrange(`${prefix}:fn.a:wait`, 0, -1);
    expect(wait.slice(0, 9000).reverse()).toEqual(many.map((e) => jobIdFor('a', e)));
    expect(await journal.get('bulk-8999')).toMatchObject([{ kind: 'received' }, { kind: 'routed', to: ['a'] }]);
    const nobody = Array.from({ length: 9000 }, (_, i) => ({ ...event(`nobody-${i}`), type: 'com.example.nobody' }));
    expect((await bus.publish(nobody, {}, 'hook')).routed).toBe(0);
    await journal.close();
    expect(await journal.get('nobody-8999')).toMatchObject([{ kind: 'received' }, { kind: 'routed', to: [] }]);
  });

  test('a journal that cannot be written does not fail the jobs: they are enqueued, the publish succeeds, a warning says so', async () => {
    const brokenPrefix = `${prefix}-broken`;
    const logs = captureLogs();
    const broken = new Bus({ redis: REDIS_URL, prefix: brokenPrefix, functions: [fn('a')], dedupWindowMs: 60_000, enqueueTimeoutMs: 2000, journal: journalLayout(brokenPrefix, { retentionMs: 60_000, maxEvents: 10 }), log: logs.log });
    try {
      await broken.waitUntilReady(5000);
      // The journal's hash is a string here (another tool's key, say): every write to it fails.
      await broken.connection.set(`${brokenPrefix}:journal:segments`, 'not a list');
      const result = await broken.publish([event('kept-1'), event('kept-2')], {}, 'hook');
      expect(result.routed).toBe(2);
      expect(await broken.connection.lrange(`${brokenPrefix}:fn.a:wait`, 0, -1)).toEqual([jobIdFor('a', event('kept-2')), jobIdFor('a', event('kept-1'))]);
      await broken.journal!.close();
      const warning = logs.records().find((r) => r.msg === 'event journal: entries not written');
      expect(warning).toMatchObject({ level: 40, times: 1 }); // pino's warn
      expect(warning?.err).toMatch(/WRONGTYPE/);
      // A redelivery is still a duplicate: the jobs were written whole.
      expect((await broken.publish([event('kept-1')], {}, 'hook')).duplicates).toBe(1);
    } finally {
      await broken.close();
      await deleteKeys(brokenPrefix);
    }
  });

  test('later entries that cannot be written are reported by a warning, at most one per 10 s with the count since the last', async () => {
    const brokenPrefix = `${prefix}-broken-later`;
    const logs = captureLogs();
    const broken = new Journal(bus.connection, journalLayout(brokenPrefix, { retentionMs: 60_000, maxEvents: 10, flushDelayMs: 0 }), logs.log);
    try {
      await bus.connection.set(`${brokenPrefix}:journal:segments`, 'not a list');
      const attempt = { kind: 'attempt' as const, function: 'a', attempt: 1, outcome: 'succeeded' as const, durationMs: 1 };
      for (let i = 0; i < 3; i++) {
        broken.record(`e${i}`, attempt);
        await broken.close();
      }
      const warnings = logs.records().filter((r) => r.msg === 'event journal: entries not written');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ level: 40, times: 1, err: expect.stringMatching(/WRONGTYPE/) });
    } finally {
      await deleteKeys(brokenPrefix);
    }
  });

  test('later entries count too: a worker draining a backlog while nothing arrives keeps at most maxEvents events', async () => {
    const drainPrefix = `${prefix}-drain`;
    const drain = new Journal(bus.connection, journalLayout(drainPrefix, { retentionMs: 60_000, maxEvents: 100, flushDelayMs: 0 }), captureLogs().log);
    const attempt = { kind: 'attempt' as const, function: 'a', attempt: 1, outcome: 'succeeded' as const, durationMs: 1 };
    try {
      // 9,000 events in calls of 1,000 (JOURNAL_MAX_BATCH): segments roll within each call.
      for (let i = 0; i < 9000; i++) drain.record(`e${i}`, attempt);
      await drain.close();
      const { segments, later } = await kept(bus.connection, drainPrefix);
      expect(segments).toBe(7); // capacity 13: 7 segments hold at most 91 of the 100
      expect(later).toBeGreaterThan(78);
      expect(later).toBeLessThanOrEqual(91);
      expect(await drain.get('e0')).toBeUndefined();
      expect(await drain.get('e8999')).toMatchObject([{ kind: 'attempt' }]);
    } finally {
      await deleteKeys(drainPrefix);
    }
  });

  test('a journal of the earlier layouts (one hash, a timeline list or a sorted set) becomes the oldest segment and leaves by count', async () => {
    for (const index of ['timeline', 'sorted set']) {
      const oldPrefix = `${prefix}-legacy-${index === 'timeline' ? 't' : 'z'}`;
      const legacy = journalLayout(oldPrefix, { retentionMs: 60_000, maxEvents: 3 });
      const now = Date.now();
      if (index === 'timeline') await bus.connection.rpush(`${oldPrefix}:journal:timeline`, `${now - 30} e1`, `${now - 20} e2`);
      else await bus.connection.zadd(`${oldPrefix}:journal:index`, now - 30, 'e1', now - 20, 'e2');
      await bus.connection.hset(`${oldPrefix}:journal:entries`, 'e1', '{"at":"x","kind":"replayed","function":"a"}', 'e2', '{"at":"y","kind":"replayed","function":"a"}');
      const migrated = new Journal(bus.connection, legacy, captureLogs().log);
      try {
        await migrated.migrate();
        await migrated.migrate(); // idempotent
        expect(await bus.connection.exists(`${oldPrefix}:journal:index`, `${oldPrefix}:journal:timeline`, `${oldPrefix}:journal:entries`)).toBe(0);
        // Lookups read the hashed segment; the list of recent arrivals starts afresh.
        expect(await migrated.recent()).toEqual([]);
        expect(await migrated.get('e1')).toEqual([{ at: 'x', kind: 'replayed', function: 'a' }]);
        // Capacity 1, 3 segments: the third new segment pushes the migrated one out.
        for (const id of ['e3', 'e4']) {
          migrated.record(id, { kind: 'replayed', function: 'a' });
          await migrated.close();
        }
        expect(await migrated.get('e1')).toHaveLength(1);
        migrated.record('e5', { kind: 'replayed', function: 'a' });
        await migrated.close();
        expect(await migrated.get('e1')).toBeUndefined();
        expect(await migrated.get('e3')).toMatchObject([{ kind: 'replayed' }]);
      } finally {
        await deleteKeys(oldPrefix);
      }
    }
  });
});

describe('completed jobs', () => {
  test('are removed once their run succeeds by default; keepCompleted keeps the last N for BullMQ\'s views', async () => {
    for (const keep of [0, 2]) {
      const prefix = uniquePrefix(`keep${keep}`);
      const bus = new Bus({ redis: REDIS_URL, prefix, functions: [fn('a')], dedupWindowMs: 60_000, enqueueTimeoutMs: 2000, keepCompleted: keep, log: captureLogs().log });
      const worker = new Worker('fn.a', async () => 'done', { connection: { url: REDIS_URL }, prefix });
      try {
        await bus.waitUntilReady(5000);
        let completed = 0;
        worker.on('completed', () => completed++);
        await bus.publish([1, 2, 3].map((i) => event(`keep-${keep}-${i}`)));
        await waitFor(() => completed === 3, 'three runs');
        await waitFor(async () => (await bus.queue('a')!.getCompletedCount()) === keep, `${keep} completed jobs kept`);
        const kept = await bus.queue('a')!.getCompleted();
        expect(kept.map((j) => j.returnvalue)).toEqual(Array(keep).fill('done'));
        // The hashes of the others are gone (which ones stay is BullMQ's pick among jobs finished in one millisecond).
        expect(await bus.connection.exists(...[1, 2, 3].map((i) => `${prefix}:fn.a:${jobIdFor('a', event(`keep-${keep}-${i}`))}`))).toBe(keep);
        // Removed or not, a redelivery is still a duplicate.
        expect((await bus.publish([event(`keep-${keep}-1`)])).duplicates).toBe(1);
      } finally {
        await worker.close();
        await bus.close();
        await deleteKeys(prefix);
      }
    }
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

describe('coalesced writes', () => {
  test('commands issued in one tick leave in one write, in order, with their own answers, also after a reconnect', async () => {
    const redis = new Redis(REDIS_URL);
    const prefix = uniquePrefix('coalesce');
    try {
      await redis.ping();
      coalesceWrites(redis);
      const socket = () => (redis as unknown as { stream: import('node:net').Socket }).stream;
      const round = async (n: number) => {
        const answers = Array.from({ length: n }, (_, i) => redis.incrby(`${prefix}:counter`, i + 1));
        // Held until the tick ends: one write for all of them.
        expect(socket().writableCorked).toBe(1);
        await new Promise((r) => process.nextTick(r));
        expect(socket().writableCorked).toBe(0);
        return Promise.all(answers);
      };
      const first = await round(100);
      expect(first.slice(0, 3)).toEqual([1, 3, 6]);
      expect(first[99]).toBe(5050);
      const reconnected = new Promise((r) => redis.once('ready', r));
      redis.disconnect(true);
      await reconnected;
      const second = await round(2);
      expect(second).toEqual([5051, 5053]);
    } finally {
      await redis.del(`${prefix}:counter`);
      redis.disconnect();
    }
  });
});

test('job counts per function, in one pipeline, are the counts BullMQ itself gives', async () => {
  await withBus('counts', async (bus, prefix) => {
    await bus.publish([event('fails')]);
    await bus.queue('a')!.add('later', {}, { delay: 60_000 });
    const worker = new Worker(
      'fn.a',
      async (job) => {
        if (job.data.id === 'fails') throw new Error('no');
        return new Promise(() => {});
      },
      { connection: { url: REDIS_URL }, prefix, concurrency: 2 },
    );
    try {
      await waitFor(async () => (await bus.queue('a')!.getFailedCount()) === 1, 'the failing job to use its two attempts');
      // Two at a time, oldest first: w1 and w2 stay active, w3 waits.
      for (const id of ['w1', 'w2', 'w3']) await bus.publish([event(id)]);
      await waitFor(async () => (await bus.queue('a')!.getActiveCount()) === 2, 'two active jobs');
      const expected = await bus.queue('a')!.getJobCounts('waiting', 'active', 'delayed', 'failed');
      expect(expected).toEqual({ waiting: 1, active: 2, delayed: 1, failed: 1 });
      expect((await bus.jobCounts()).get('a')).toEqual(expected);
    } finally {
      await worker.close(true);
    }
  });
});

describe('batching follows the event loop', () => {
  const prefix = uniquePrefix('turns');
  const target: QueueTarget = { queueKey: `${prefix}:q:`, opts: '{"attempts":1}', highWaterMark: 0, waitingEvents: false };
  const job = (id: string): JobSpec => ({ target, jobId: id, name: 'com.example.load', data: JSON.stringify({ id }), dedupTtlMs: 60_000 });
  /** The enqueue calls that reached Redis, with their job counts; `gate` holds each call until released. */
  const instrument = (redis: Redis, enqueuer: BatchingEnqueuer, gated = false) => {
    const calls: { jobs: number; timerHadFired: boolean }[] = [];
    const releases: (() => void)[] = [];
    let timerFired = false;
    const withCommand = redis as unknown as { switchboardEnqueue(...args: (string | number)[]): Promise<unknown> };
    const real = withCommand.switchboardEnqueue.bind(redis);
    withCommand.switchboardEnqueue = (...args) => {
      const queues = Number(args[1]);
      const groups = Number(args[2 + queues * 4]);
      calls.push({ jobs: Number(args[3 + queues * 4 + groups * 3]), timerHadFired: timerFired });
      if (!gated) return real(...args);
      return new Promise((resolve, reject) => releases.push(() => real(...args).then(resolve, reject)));
    };
    return { calls, releases, enqueuer, armTimer: () => ((timerFired = false), setTimeout(() => (timerFired = true), 0)) };
  };
  let redis: Redis;
  beforeEach(() => {
    redis = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    redis.disconnect();
    await deleteKeys(prefix);
  });

  test('a lone publish leaves in the turn it was made in, before any timer fires; publishes of one turn leave in one call', async () => {
    const t = instrument(redis, new BatchingEnqueuer(redis, 2000));
    t.armTimer();
    expect(await t.enqueuer.enqueue([job('lone')])).toEqual([1]);
    expect(t.calls).toEqual([{ jobs: 1, timerHadFired: false }]);

    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => t.enqueuer.enqueue([job(`turn-${i}`)])));
    expect(results).toEqual(Array.from({ length: 50 }, () => [1]));
    expect(t.calls.slice(1)).toEqual([{ jobs: 50, timerHadFired: expect.any(Boolean) }]);
    expect(await redis.llen(`${prefix}:q:wait`)).toBe(51);
  });

  test('while a call is pending, small batches wait for it to return and leave together; a large one takes a free slot; none beyond the slots', async () => {
    const t = instrument(redis, new BatchingEnqueuer(redis, 5000, 2, 16), true);
    const turn = () => new Promise((r) => setImmediate(r));
    const first = t.enqueuer.enqueue([job('a')]);
    await turn();
    const waiting = [t.enqueuer.enqueue([job('b')])];
    await turn();
    waiting.push(t.enqueuer.enqueue([job('c')]));
    await turn();
    expect(t.calls.map((c) => c.jobs)).toEqual([1]); // b and c wait: too few for a second call
    const large = t.enqueuer.enqueue(Array.from({ length: 14 }, (_, i) => job(`l${i}`)));
    await turn();
    expect(t.calls.map((c) => c.jobs)).toEqual([1, 16]); // 16 queued: the second slot takes them
    const later = [t.enqueuer.enqueue(Array.from({ length: 20 }, (_, i) => job(`m${i}`))), t.enqueuer.enqueue([job('z')])];
    await turn();
    expect(t.calls).toHaveLength(2); // both slots taken
    t.releases.shift()!();
    expect(await first).toEqual([1]);
    await turn();
    expect(t.calls.map((c) => c.jobs)).toEqual([1, 16, 21]); // a slot came free: the rest in one call
    t.releases.splice(0).forEach((release) => release());
    const results = await Promise.all([...waiting, large, ...later]);
    expect(results.flat().every((r) => r === 1)).toBe(true);
    expect(await redis.llen(`${prefix}:q:wait`)).toBe(38);
    expect((await redis.lrange(`${prefix}:q:wait`, -3, -1)).reverse()).toEqual(['a', 'b', 'c']);
  });

  test('one call with jobs of several queues, names and windows, interleaved: each job keeps its name, each window its own dedup sets', async () => {
    const t = instrument(redis, new BatchingEnqueuer(redis, 2000));
    const other: QueueTarget = { queueKey: `${prefix}:r:`, opts: '{"attempts":3}', highWaterMark: 0, waitingEvents: false };
    const spec = (to: QueueTarget, id: string, name: string, dedupTtlMs: number): JobSpec => ({ target: to, jobId: id, name, data: JSON.stringify({ id }), dedupTtlMs });
    expect(await t.enqueuer.enqueue([spec(target, 'known', 'x', 60_000)])).toEqual([1]);
    const before = Date.now();
    const results = await Promise.all([
      t.enqueuer.enqueue([spec(target, 'q1', 'x', 60_000), spec(other, 'r1', 'x', 60_000), spec(target, 'q2', 'y', 60_000)]),
      t.enqueuer.enqueue([spec(target, 'q3', 'x', 8_000), spec(target, 'known', 'y', 60_000), spec(target, 'q1', 'y', 60_000)]),
      t.enqueuer.enqueue([spec(other, 'r2', 'y', 8_000), spec(target, 'q4', 'x', 60_000)]),
    ]);
    expect(t.calls.map((c) => c.jobs)).toEqual([1, 8]);
    // 'known' from the earlier call and 'q1' again in this one (another name, the same window) are duplicates.
    expect(results).toEqual([[1, 1, 1], [1, 0, 0], [1, 1]]);
    const stored = async (queueKey: string, id: string) => redis.hmget(`${queueKey}${id}`, 'name', 'opts');
    expect(await stored(`${prefix}:q:`, 'q1')).toEqual(['x', '{"attempts":1}']);
    expect(await stored(`${prefix}:q:`, 'q2')).toEqual(['y', '{"attempts":1}']);
    expect(await stored(`${prefix}:q:`, 'q3')).toEqual(['x', '{"attempts":1}']);
    expect(await stored(`${prefix}:q:`, 'q4')).toEqual(['x', '{"attempts":1}']);
    expect(await stored(`${prefix}:r:`, 'r1')).toEqual(['x', '{"attempts":3}']);
    expect(await stored(`${prefix}:r:`, 'r2')).toEqual(['y', '{"attempts":3}']);
    expect((await redis.lrange(`${prefix}:q:wait`, 0, -1)).reverse()).toEqual(['known', 'q1', 'q2', 'q3', 'q4']);
    expect((await redis.lrange(`${prefix}:r:wait`, 0, -1)).reverse()).toEqual(['r1', 'r2']);
    // The call's sets: those of its time, which lies between `before` and `after` (the earlier call may share one).
    const after = Date.now();
    const members = async (queueKey: string, windowMs: number) => {
      const keys = dedupSetsBetween(queueKey, windowMs, before, after);
      return [...new Set((await Promise.all(keys.map((key) => redis.smembers(key)))).flat())].filter((id) => id !== 'known').sort();
    };
    expect(await members(`${prefix}:q:`, 8_000)).toEqual(['q3']);
    expect(await members(`${prefix}:r:`, 8_000)).toEqual(['r2']);
    expect(await members(`${prefix}:q:`, 60_000)).toEqual(['q1', 'q2', 'q4']);
    expect(await members(`${prefix}:r:`, 60_000)).toEqual(['r1']);
  });

  test('a call Redis does not answer in time fails its publishes and those queued behind it; its late answer is ignored and its slot is used again', async () => {
    const t = instrument(redis, new BatchingEnqueuer(redis, 300, 1, 16), true);
    const turn = () => new Promise((r) => setImmediate(r));
    const started = Date.now();
    const held = t.enqueuer.enqueue([job('held')]).catch((err: Error) => err);
    await turn();
    const queued = t.enqueuer.enqueue([job('queued')]).catch((err: Error) => err);
    const [heldErr, queuedErr] = await Promise.all([held, queued]);
    expect(heldErr).toBeInstanceOf(EnqueueTimeoutError);
    expect(queuedErr).toBeInstanceOf(EnqueueTimeoutError);
    expect((heldErr as Error).message).toBe('Redis did not answer within 300 ms');
    // The sweep runs every 50 ms: refused within the timeout and one sweep (with room for a slow machine).
    expect(Date.now() - started).toBeLessThan(300 + 50 + 250);
    expect(t.calls.map((c) => c.jobs)).toEqual([1]); // the queued one never left: its sender retries it

    t.releases.shift()!(); // the late answer: the job is in Redis, the publish stays failed (dedup covers a retry)
    await waitFor(async () => (await redis.llen(`${prefix}:q:wait`)) === 1, 'the held call to reach Redis');
    const after = t.enqueuer.enqueue([job('after')]);
    await turn();
    expect(t.calls.map((c) => c.jobs)).toEqual([1, 1]); // the one slot is free again
    t.releases.shift()!();
    expect(await after).toEqual([1]);
    expect(await redis.lrange(`${prefix}:q:wait`, 0, -1)).toEqual(['after', 'held']);
  });
});
