/**
 * The worker class every function runs on: a BullMQ Worker that starts a job reaching an idle queue
 * after one fetch, where BullMQ's own mostly fetches twice first. Real Redis; counted on the worker's
 * fetches (`moveToActive` calls), not on time.
 */
import { Queue, Worker, type Job } from 'bullmq';
import { promptWorkerClass } from '../src/worker/prompt-worker.js';
import { deleteKeys, REDIS_URL, uniquePrefix, waitFor } from './helpers/index.js';

const connection = { url: REDIS_URL };

type Counts = { fetches: number; waits: number; waiting: boolean };

/**
 * Runs `body` with a fresh queue and a worker on it whose fetches are counted, and whether it is
 * waiting for a job now; closes both and deletes the keys afterwards.
 */
async function withCountedWorker<T>(
  WorkerClass: typeof Worker,
  concurrency: number,
  processor: (job: Job, counts: Counts) => Promise<void>,
  body: (queue: Queue, worker: Worker, counts: Counts) => Promise<T>,
): Promise<T> {
  const prefix = uniquePrefix('prompt');
  const queue = new Queue('q', { connection, prefix });
  const counts: Counts = { fetches: 0, waits: 0, waiting: false };
  const worker = new WorkerClass('q', (job: Job) => processor(job, counts), { connection, prefix, concurrency });
  const backend = (worker as unknown as { backend: Record<'moveToActive' | 'waitForJob', (...args: unknown[]) => Promise<unknown>> }).backend;
  const moveToActive = backend.moveToActive.bind(backend);
  backend.moveToActive = (...args) => {
    counts.fetches++;
    return moveToActive(...args);
  };
  const waitForJob = backend.waitForJob.bind(backend);
  backend.waitForJob = async (...args) => {
    counts.waits++;
    counts.waiting = true;
    try {
      return await waitForJob(...args);
    } finally {
      counts.waiting = false;
    }
  };
  try {
    await worker.waitUntilReady();
    return await body(queue, worker, counts);
  } finally {
    await worker.close();
    await queue.close();
    await deleteKeys(prefix);
  }
}

/** Adds one job to a queue whose worker is waiting; how many fetches the worker made before the job started. */
async function fetchesBeforeStart(queue: Queue, counts: Counts, started: Map<string, number>, id: string): Promise<number> {
  // Settled in a wait: the same one for 100 ms (a wait right after a job can return at once, on the
  // marker that job's fetch left; the worker then fetches and waits again).
  for (;;) {
    await waitFor(() => counts.waiting || undefined, 'the worker to wait for a job');
    const waits = counts.waits;
    await new Promise((r) => setTimeout(r, 100));
    if (counts.waiting && counts.waits === waits) break;
  }
  const before = counts.fetches;
  await queue.add('job', {}, { jobId: id });
  return (await waitFor(() => started.get(id), `job ${id} to start`)) - before;
}

/** Five lone jobs, each added while the worker waits: the fetches each needed before it started. */
async function loneJobs(WorkerClass: typeof Worker): Promise<number[]> {
  const started = new Map<string, number>();
  return withCountedWorker(WorkerClass, 10, async (job, counts) => void started.set(job.id!, counts.fetches), async (queue, _worker, counts) => {
    // The first job after start-up finds BullMQ's loop in another state; the steady case is every job after it.
    await fetchesBeforeStart(queue, counts, started, 'first');
    const fetches = [];
    for (const id of ['a', 'b', 'c', 'd', 'e']) fetches.push(await fetchesBeforeStart(queue, counts, started, id));
    return fetches;
  });
}

test('the prompt worker starts every lone job on an idle queue after one fetch', async () => {
  expect(await loneJobs(promptWorkerClass())).toEqual([1, 1, 1, 1, 1]);
});

test('BullMQ’s own Worker mostly fetches twice before it starts such a job (why the prompt worker exists)', async () => {
  // Once in a while its loop waits from the state in which it runs the job after one fetch.
  const fetches = await loneJobs(Worker);
  expect(fetches.every((n) => n === 1 || n === 2)).toBe(true);
  expect(fetches).toContain(2);
});

test('the prompt worker runs every job of bursts and lone arrivals exactly once, and after each burst waits again', async () => {
  const runs = new Map<string, number>();
  const started = new Map<string, number>();
  const processor = async (job: Job, counts: Counts) => {
    runs.set(job.id!, (runs.get(job.id!) ?? 0) + 1);
    started.set(job.id!, counts.fetches);
    if (job.data.slow) await new Promise((r) => setTimeout(r, 2));
  };
  await withCountedWorker(promptWorkerClass(), 5, processor, async (queue, worker, counts) => {
    let drained = 0;
    worker.on('drained', () => drained++);
    let expected = 0;
    for (let burst = 0; burst < 3; burst++) {
      const drainedBefore = drained;
      await queue.addBulk(Array.from({ length: 100 }, (_, i) => ({ name: 'job', data: { slow: i % 3 === 0 }, opts: { jobId: `burst${burst}-${i}` } })));
      expected += 100;
      await waitFor(() => runs.size === expected || undefined, `burst ${burst} to run`);
      // A lone job after the burst: the worker went back to waiting, and starts it after one fetch.
      expect(await fetchesBeforeStart(queue, counts, started, `lone${burst}`)).toBe(1);
      expected += 1;
      expect(drained).toBeGreaterThan(drainedBefore);
    }
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    expect(runs.size).toBe(303);
    expect(await queue.getWaitingCount()).toBe(0);
    expect(await queue.getActiveCount()).toBe(0);
  });
}, 30_000);

test('the prompt worker with concurrency 1 behaves as BullMQ’s (nothing to defer)', async () => {
  const runs: string[] = [];
  const started = new Map<string, number>();
  const processor = async (job: Job, counts: Counts) => {
    runs.push(job.id!);
    started.set(job.id!, counts.fetches);
  };
  await withCountedWorker(promptWorkerClass(), 1, processor, async (queue, _worker, counts) => {
    expect(await fetchesBeforeStart(queue, counts, started, 'first')).toBe(1);
    await queue.addBulk(Array.from({ length: 20 }, (_, i) => ({ name: 'job', data: {}, opts: { jobId: `j${i}` } })));
    await waitFor(() => runs.length === 21 || undefined, 'every job to run');
    expect(runs.slice(1)).toEqual(Array.from({ length: 20 }, (_, i) => `j${i}`));
  });
});
