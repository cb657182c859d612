/**
 * The ingest fast path: one Lua call enqueues a whole batch of jobs, across function queues, in
 * BullMQ's own job format, so the workers stay plain BullMQ workers. Client-side it skips BullMQ's
 * Job objects and msgpack (most of a naive add's CPU); Redis-side it does only what a waiting job
 * needs: the dedup sets, the job hash, the wait list and the worker marker (and, if asked, BullMQ's
 * `waiting` event).
 *
 * Dedup is ours alone: the job does not name it (no `de` option, no `deid` field), because BullMQ
 * deletes a job's named dedup key when it removes the job, and finished jobs are removed long before
 * the window ends. Job ids are remembered in sets per queue and window, one set per quarter of the
 * window (`<queue>:dedup:<window ms>:<quarter number>`), each expiring once no check can reach it:
 * a call checks the last five quarters with one SMISMEMBER each and adds its new ids with one SADD,
 * so an id is remembered for between one and 1.25 windows. Against a key per id with its own expiry
 * (the layout before, whose `SET … NX PX` alone took 4.7–4.9 µs per job at saturation): 95 bytes of
 * Redis memory per remembered id instead of 148, and the script's time 14.2–14.4 µs per job instead
 * of 16.4–17.5. Keys of that layout are not read: after an upgrade from it, a redelivery of an event
 * first delivered before the upgrade runs again.
 *
 * Batching follows the event loop, never a timer: publishes made in one turn of the loop (every
 * request whose body arrived in the same poll) leave together at the end of that turn, in one call.
 * A lone request waits for no batch: with no call pending, its call leaves in the turn it was made in.
 * While a call is pending, a further one (up to `maxInFlight`) leaves only for at least
 * `minBatchBeside` jobs; smaller batches join the call that leaves when one returns. Each call costs
 * a round of system calls and a script start on both sides, so under load few large calls beat many
 * small ones: batches of 20–25 jobs at saturation, against 5 when every publish took a free slot.
 */
import type { Redis } from 'ioredis';

// ARGV: now, queueCount, then per queue: key prefix, job options JSON, high-water mark, 1 to write `waiting` events;
// then groupCount, then per group: queue index (1-based), job name, dedup window ms; then jobCount, then per job:
// group index (1-based), job id, data JSON. What jobs share travels once per call: each argument costs a
// conversion into Lua (three per job and one options string per queue took 7.7 % less script time than five
// per job and options assembled per job).
const ENQUEUE_LUA = `
local rcall = redis.call
-- callEach(command, key, values): the command with each value as an argument, in calls of 1,000 (Lua's unpack stops at 8,000).
local function callEach(command, key, values)
  for c = 1, #values, 1000 do rcall(command, key, unpack(values, c, math.min(c + 999, #values))) end
end
local now = ARGV[1]
local nowMs = tonumber(now)
local nq = tonumber(ARGV[2])
local queues = {}
for q = 1, nq do
  local b = 3 + (q - 1) * 4
  local qk = ARGV[b]
  local meta = rcall('HMGET', qk .. 'meta', 'paused', 'concurrency', 'opts.maxLenEvents')
  local blocked = meta[1] and true or false
  if not blocked and meta[2] then blocked = rcall('LLEN', qk .. 'active') >= tonumber(meta[2]) end
  queues[q] = { key = qk, opts = ARGV[b + 1], highWater = tonumber(ARGV[b + 2]), events = ARGV[b + 3] == '1', blocked = blocked,
    maxEvents = meta[3] or '10000', waiting = rcall('LLEN', qk .. 'wait'), added = {}, windows = {} }
end
-- Groups name a queue, a job name and a window; groups of one queue and window share their dedup sets,
-- which check all their ids at once.
local g0 = 3 + nq * 4
local ng = tonumber(ARGV[g0])
local groups, dedupList = {}, {}
for k = 1, ng do
  local b = g0 + 1 + (k - 1) * 3
  local q = queues[tonumber(ARGV[b])]
  local d = q.windows[ARGV[b + 2]]
  if not d then
    local window = tonumber(ARGV[b + 2])
    local quarter = math.max(1, math.ceil(window / 4))
    local current = math.floor(nowMs / quarter)
    d = { quarter = quarter, current = current, sets = {}, ids = {}, at = {}, added = {} }
    for m = 0, 4 do d.sets[m + 1] = q.key .. 'dedup:' .. window .. ':' .. (current - m) end
    q.windows[ARGV[b + 2]] = d
    dedupList[#dedupList + 1] = d
  end
  groups[k] = { q = q, name = ARGV[b + 1], dedup = d }
end
local j0 = g0 + 1 + ng * 3
local n = tonumber(ARGV[j0])
local results = {}
local jobKeys, jobGroups = {}, {}
for i = 0, n - 1 do
  local b = j0 + 1 + i * 3
  local g = groups[tonumber(ARGV[b])]
  local d = g.dedup
  jobKeys[i + 1] = g.q.key .. ARGV[b + 1]
  jobGroups[i + 1] = g
  d.ids[#d.ids + 1] = ARGV[b + 1]
  d.at[#d.at + 1] = i + 1
end
-- Remembered: the id is in one of the last five quarters' sets (every id seen within the window is).
local remembered = {}
for _, d in ipairs(dedupList) do
  for c = 1, #d.ids, 1000 do
    local last = math.min(c + 999, #d.ids)
    for _, set in ipairs(d.sets) do
      local found = rcall('SMISMEMBER', set, unpack(d.ids, c, last))
      for k = 1, #found do
        if found[k] == 1 then remembered[d.at[c + k - 1]] = true end
      end
    end
  end
end
-- A job may outlive its window (a window shorter than the job's retention): its hash must not be
-- overwritten. One EXISTS over the whole batch answers for all in the usual case, where none exist.
local someExist = false
for c = 1, n, 1000 do
  if rcall('EXISTS', unpack(jobKeys, c, math.min(c + 999, n))) > 0 then someExist = true end
end
local taken = {}
for i = 0, n - 1 do
  local b = j0 + 1 + i * 3
  local g = jobGroups[i + 1]
  local q = g.q
  local jobId = ARGV[b + 1]
  local jobKey = jobKeys[i + 1]
  if q.highWater > 0 and q.waiting >= q.highWater then
    results[i + 1] = -1
  elseif remembered[i + 1] or taken[jobKey] or (someExist and rcall('EXISTS', jobKey) == 1) then
    results[i + 1] = 0
  else
    -- Constant numbers as strings (here and in the XADD's MAXLEN): Redis formats each Lua number argument anew (snprintf).
    rcall('HSET', jobKey, 'name', g.name, 'data', ARGV[b + 2], 'opts', q.opts, 'timestamp', now, 'delay', '0', 'priority', '0')
    taken[jobKey] = true
    q.waiting = q.waiting + 1
    q.added[#q.added + 1] = jobId
    local d = g.dedup
    d.added[#d.added + 1] = jobId
    results[i + 1] = 1
  end
end
-- The new ids join the current quarter's set, kept until the last check that reads it (five quarters on).
for _, d in ipairs(dedupList) do
  if #d.added > 0 then
    callEach('SADD', d.sets[1], d.added)
    rcall('PEXPIREAT', d.sets[1], (d.current + 5) * d.quarter)
  end
end
-- One LPUSH per queue and call (in order: the first added is the first taken), then its marker. A call of
-- more than 1,000 jobs for one queue (one large publish) pushes them in chunks, still in order.
for _, q in ipairs(queues) do
  if #q.added > 0 then
    callEach('LPUSH', q.key .. 'wait', q.added)
    if q.events then
      for _, jobId in ipairs(q.added) do rcall('XADD', q.key .. 'events', 'MAXLEN', '~', q.maxEvents, '*', 'event', 'waiting', 'jobId', jobId) end
    end
    if not q.blocked then rcall('ZADD', q.key .. 'marker', '0', '0') end
  end
end
return results
`;

/** The set that remembers a job id enqueued at `atMs` (the Lua above names it the same way). */
export function dedupSetKey(queueKey: string, windowMs: number, atMs: number): string {
  const quarter = Math.max(1, Math.ceil(windowMs / 4));
  return `${queueKey}dedup:${windowMs}:${Math.floor(atMs / quarter)}`;
}

/** A queue jobs go to. */
export interface QueueTarget {
  /** `<prefix>:<queue>:` */
  queueKey: string;
  /**
   * The job options JSON as BullMQ stores them, the same for every job of the queue: without `jobId`,
   * as for a job added without one (BullMQ reads a job's id from its key, never from its options).
   */
  opts: string;
  /** Refuse jobs when the queue already holds this many waiting; 0 for no limit. */
  highWaterMark: number;
  /** Write BullMQ's `waiting` event per job (for QueueEvents listeners). */
  waitingEvents: boolean;
}

/** One job to enqueue. */
export interface JobSpec {
  target: QueueTarget;
  jobId: string;
  name: string;
  /** The job data, already JSON. */
  data: string;
  /** How long the job id is remembered, so that the same id again is a duplicate (see the dedup sets above). */
  dedupTtlMs: number;
}

/** Per job: 1 enqueued, 0 already known (duplicate), -1 refused (queue over its high-water mark). */
export type EnqueueResult = 1 | 0 | -1;

/** A call's queues: each one's 1-based index in the call and its groups' indexes by window and name. */
type CallQueues = Map<QueueTarget, { index: number; groups: Map<string, number> }>;

interface Pending {
  jobs: JobSpec[];
  deadline: number;
  settled: boolean;
  resolve(results: EnqueueResult[]): void;
  reject(err: unknown): void;
}

/** Raised for a publish Redis did not confirm in time; the caller must not acknowledge its events. */
export class EnqueueTimeoutError extends Error {}

const SWEEP_MS = 50;

type WithEnqueue = Redis & { switchboardEnqueue(...args: (string | number)[]): Promise<EnqueueResult[]> };

export class BatchingEnqueuer {
  private readonly redis: WithEnqueue;
  /** Publishes not yet in a call, oldest first. */
  private queue: Pending[] = [];
  /**
   * The batches of the calls in flight, one slot per call allowed. With the queue, this is every
   * publish not yet answered, which one sweeping timer checks for deadlines (cheaper than a timer each).
   * Fixed slots, not a Set: a long-lived hash table that churns leaves its replaced tables in the old
   * generation still pointing at young publishes, which then survive every scavenge (measured: 1.3 KB
   * promoted per request and twice the scavenge time at saturation).
   */
  private readonly calls: (Pending[] | undefined)[];
  private flushScheduled = false;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    redis: Redis,
    private readonly timeoutMs: number,
    /** Calls in flight before publishes wait for one to return (the issue asks for several). */
    private readonly maxInFlight = 4,
    /** Jobs a batch needs to leave while another call is pending. */
    private readonly minBatchBeside = 16,
    private readonly maxBatchJobs = 500,
  ) {
    if (!(redis as unknown as Partial<WithEnqueue>).switchboardEnqueue) redis.defineCommand('switchboardEnqueue', { numberOfKeys: 0, lua: ENQUEUE_LUA });
    this.redis = redis as WithEnqueue;
    this.calls = new Array<Pending[] | undefined>(maxInFlight).fill(undefined);
  }

  enqueue(jobs: JobSpec[]): Promise<EnqueueResult[]> {
    return new Promise((resolve, reject) => {
      const pending: Pending = { jobs, deadline: Date.now() + this.timeoutMs, settled: false, resolve, reject };
      this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS).unref();
      this.queue.push(pending);
      this.flushAtEndOfTurn();
    });
  }

  /** Everything queued leaves once this turn's callbacks have run (setImmediate: the same loop turn). */
  private flushAtEndOfTurn(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flushQueued);
  }

  private readonly flushQueued = (): void => {
    this.flushScheduled = false;
    while (this.queue.length > 0 && this.inFlight < this.maxInFlight && (this.inFlight === 0 || this.queuedJobs() >= this.minBatchBeside)) this.flush();
  };

  /** Jobs of the publishes queued (not yet in a call); asked only while a call is pending. */
  private queuedJobs(): number {
    let jobs = 0;
    for (const pending of this.queue) jobs += pending.jobs.length;
    return jobs;
  }

  /** Calls pending: the slots taken. */
  private get inFlight(): number {
    let taken = 0;
    for (const batch of this.calls) if (batch) taken++;
    return taken;
  }

  /** Answers a publish once: with its results, or with the error (a timeout may have answered first). */
  private settle(pending: Pending, results: EnqueueResult[] | undefined, err?: unknown): void {
    if (pending.settled) return;
    pending.settled = true;
    if (results) pending.resolve(results);
    else pending.reject(err);
  }

  private sweep(): void {
    const now = Date.now();
    const expire = (pending: Pending) => {
      if (pending.deadline <= now) this.settle(pending, undefined, new EnqueueTimeoutError(`Redis did not answer within ${this.timeoutMs} ms`));
    };
    for (const batch of this.calls) batch?.forEach(expire);
    this.queue.forEach(expire);
    // A timed-out publish still queued is dropped: its sender was told it failed and will retry.
    if (this.queue.some((p) => p.settled)) this.queue = this.queue.filter((p) => !p.settled);
    if (this.inFlight === 0 && this.queue.length === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private flush(): void {
    if (this.queue.length === 0) return;
    let count = 0;
    let size = 0;
    while (count < this.queue.length && (count === 0 || size + this.queue[count]!.jobs.length <= this.maxBatchJobs)) size += this.queue[count++]!.jobs.length;
    // Taking the whole queue hands it over and starts a new one (no copy).
    let batch: Pending[];
    if (count === this.queue.length) {
      batch = this.queue;
      this.queue = [];
    } else batch = this.queue.splice(0, count);
    const queues: CallQueues = new Map();
    const queueArgs: (string | number)[] = [];
    const groupArgs: (string | number)[] = [];
    const jobArgs: (string | number)[] = [size];
    // Consecutive jobs mostly share their group (one connector's events to one function): checked first.
    let last: JobSpec | undefined;
    let lastGroup = 0;
    for (const pending of batch) {
      for (const j of pending.jobs) {
        if (!last || j.target !== last.target || j.name !== last.name || j.dedupTtlMs !== last.dedupTtlMs) {
          lastGroup = this.groupOf(j, queues, queueArgs, groupArgs);
          last = j;
        }
        jobArgs.push(lastGroup, j.jobId, j.data);
      }
    }
    const args = [Date.now(), queues.size, ...queueArgs, groupArgs.length / 3, ...groupArgs, ...jobArgs];
    const slot = this.calls.indexOf(undefined);
    this.calls[slot] = batch;
    this.redis.switchboardEnqueue(...args).then(
      (results) => {
        let offset = 0;
        for (const pending of batch) {
          this.settle(pending, results.slice(offset, offset + pending.jobs.length));
          offset += pending.jobs.length;
        }
        this.done(slot);
      },
      (err: unknown) => {
        for (const pending of batch) this.settle(pending, undefined, err);
        this.done(slot);
      },
    );
  }

  /** The 1-based index of the job's group (queue, name, window) in this call, added to the call's arguments if new. */
  private groupOf(job: JobSpec, queues: CallQueues, queueArgs: (string | number)[], groupArgs: (string | number)[]): number {
    const { target } = job;
    let queue = queues.get(target);
    if (!queue) {
      queue = { index: queues.size + 1, groups: new Map() };
      queues.set(target, queue);
      queueArgs.push(target.queueKey, target.opts, target.highWaterMark, target.waitingEvents ? 1 : 0);
    }
    const key = `${job.dedupTtlMs} ${job.name}`;
    let group = queue.groups.get(key);
    if (group === undefined) {
      group = groupArgs.length / 3 + 1;
      queue.groups.set(key, group);
      groupArgs.push(queue.index, job.name, job.dedupTtlMs);
    }
    return group;
  }

  private done(slot: number): void {
    this.calls[slot] = undefined;
    if (this.queue.length > 0) this.flushAtEndOfTurn();
  }
}
