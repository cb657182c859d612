/**
 * The event bus: routes each CloudEvent to the queue of every function whose trigger matches,
 * one BullMQ job per match, and resolves only once Redis has them all.
 */
import { hash } from 'node:crypto';
import type { JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { FunctionConfig } from '../config/load.js';
import { SwitchboardError } from '../errors.js';
import { serializeCloudEvent, type CloudEvent } from '../events/cloudevent.js';
import type { PoisonEntry, PublishOptions, PublishResult } from '../registry/contract.js';
import { Journal, type ArrivalOrigin, type JournalLayout } from '../ops/journal.js';
import { BatchingEnqueuer, EnqueueTimeoutError, type JobSpec, type QueueTarget } from './enqueue.js';
import { bullmq } from './bullmq.js';
import { describeRedis, producerConnection, type RedisTarget } from './redis.js';
import { Router } from './router.js';

export interface BusOptions {
  redis: RedisTarget;
  prefix: string;
  functions: readonly FunctionConfig[];
  dedupWindowMs: number;
  enqueueTimeoutMs: number;
  /** Default most waiting jobs per function queue before events for it are refused (0: no limit). */
  highWaterMark?: number;
  /** Write BullMQ's `waiting` event per job, for QueueEvents listeners. */
  waitingEvents?: boolean;
  /** Completed jobs kept per function queue (the last N, at most an hour); 0 (the default) removes a job when its run succeeds. */
  keepCompleted?: number;
  /** The event journal's layout; absent when the journal is off. */
  journal?: JournalLayout;
  log: Logger;
}

/** Events no trigger matched are kept in a capped stream, so an accepted event is never silently dropped. */
const UNROUTED_MAX = 10_000;
const KEEP_DEAD_LETTERS = { age: 14 * 24 * 3600, count: 10_000 };

export class BusUnavailableError extends SwitchboardError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('SWB_ERR_BUS_UNAVAILABLE', `event bus unavailable: ${reason}`, options);
  }
}

/** A function queue holds its high-water mark of waiting jobs: the sender should slow down. */
export class BackpressureError extends SwitchboardError {
  constructor(readonly functions: string[]) {
    super('SWB_ERR_BUS_BACKPRESSURE', `queue backlog over its high-water mark for ${functions.join(', ')}`);
  }
}

export const DEFAULT_HIGH_WATER_MARK = 100_000;

/** Same function, source and id: same job id, so a redelivered event runs once. */
export function jobIdFor(functionName: string, event: Pick<CloudEvent, 'source' | 'id'>): string {
  return 'j' + hash('sha256', `${functionName}\n${event.source}\n${event.id}`).slice(0, 40);
}

export class Bus {
  readonly connection: Redis;
  readonly prefix: string;
  private router!: Router<FunctionConfig>;
  /** BullMQ Queue objects made so far, by function (see `queue`). */
  private readonly queues = new Map<string, Queue>();
  /** Per function: the queue's key prefix and the fixed part of its job options JSON. */
  private readonly targets = new Map<string, QueueTarget>();
  private readonly enqueuer: BatchingEnqueuer;
  /** The event journal, on the bus's connection: arrivals are recorded by `publish`, later entries by workers. */
  readonly journal: Journal | undefined;
  /** Events refused because a queue was over its high-water mark, since start. */
  refusedForBackpressure = 0;
  private closed = false;

  constructor(private readonly options: BusOptions) {
    this.prefix = options.prefix;
    this.connection = producerConnection(options.redis);
    // ioredis reports every failed reconnect; readiness and 503s already say Redis is down.
    this.connection.on('error', () => {});
    this.setFunctions(options.functions);
    this.enqueuer = new BatchingEnqueuer(this.connection, options.enqueueTimeoutMs);
    this.journal = options.journal ? new Journal(this.connection, options.journal, options.log) : undefined;
  }

  /** Messages that could not become events go to a capped stream, `<prefix>:poison`. */
  async deadLetterMessage(entry: PoisonEntry): Promise<void> {
    await this.withinTimeout(
      this.connection.xadd(`${this.prefix}:poison`, 'MAXLEN', '~', UNROUTED_MAX, '*', 'connector', entry.connector, 'id', entry.id, 'reason', entry.reason, 'payload', entry.payload, 'at', new Date().toISOString()),
    );
  }

  /** Routes to these functions from now on (config reload); queues of removed functions are closed. */
  setFunctions(functions: readonly FunctionConfig[]): void {
    const next = new Map(functions.map((f) => [f.name, f.queue]));
    for (const [name, queue] of this.queues) {
      if (next.get(name) !== queue.name) {
        this.queues.delete(name);
        void queue.close();
      }
    }
    for (const name of this.targets.keys()) if (!next.has(name)) this.targets.delete(name);
    for (const fn of functions) {
      const jobOptions: JobsOptions = {
        attempts: fn.attempts,
        backoff: { type: fn.backoff.type, delay: fn.backoff.delay },
        // Kept completed jobs cost a sorted-set entry and a trim per run, and Redis memory per function; the
        // journal, bounded once for all functions, records every run.
        removeOnComplete: this.options.keepCompleted ? { age: 3600, count: this.options.keepCompleted } : true,
        removeOnFail: KEEP_DEAD_LETTERS,
      };
      this.targets.set(fn.name, {
        queueKey: `${this.prefix}:${fn.queue}:`,
        opts: JSON.stringify(jobOptions),
        highWaterMark: fn.highWaterMark ?? this.options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
        waitingEvents: this.options.waitingEvents ?? false,
      });
    }
    this.router = new Router(functions);
  }

  /**
   * A function's BullMQ queue, for reading and managing it (counts, jobs, pause, dead letters).
   * Made on first use: publishing never needs one, and a thousand functions' Queue objects would
   * otherwise hold megabytes that every garbage collection walks.
   */
  queue(functionName: string): Queue | undefined {
    let queue = this.queues.get(functionName);
    const target = this.targets.get(functionName);
    if (!queue && target && !this.closed) {
      queue = new (bullmq().Queue)(this.queueNameOf(target), { connection: this.connection, prefix: this.prefix });
      this.queues.set(functionName, queue);
    }
    return queue;
  }

  /**
   * Jobs per state of every function's queue, read in one round trip, as BullMQ 6 counts them
   * (`getJobCounts`: the wait and active lists, the delayed and failed sets). A metrics scrape over a
   * thousand functions is then one pipeline, not a thousand calls and Queue objects.
   */
  async jobCounts(): Promise<Map<string, { waiting: number; active: number; delayed: number; failed: number }>> {
    const targets = [...this.targets];
    const pipeline = this.connection.pipeline();
    for (const [, { queueKey: key }] of targets) pipeline.llen(`${key}wait`).llen(`${key}active`).zcard(`${key}delayed`).zcard(`${key}failed`);
    const replies = (await pipeline.exec()) ?? [];
    const counts = new Map<string, { waiting: number; active: number; delayed: number; failed: number }>();
    targets.forEach(([name], i) => {
      const [waiting, active, delayed, failed] = replies.slice(i * 4, i * 4 + 4).map(([err, n]) => {
        if (err) throw err;
        return Number(n);
      });
      counts.set(name, { waiting: waiting!, active: active!, delayed: delayed!, failed: failed! });
    });
    return counts;
  }

  /** The queue's name, from its key prefix `<prefix>:<queue>:`. */
  private queueNameOf(target: QueueTarget): string {
    return target.queueKey.slice(this.prefix.length + 1, -1);
  }

  /** `from` is where the events came from (a connector's name, or the function that emitted them); given, their arrival is journaled. */
  async publish(events: CloudEvent[], options: PublishOptions = {}, from?: ArrivalOrigin): Promise<PublishResult> {
    if (this.closed) throw new BusUnavailableError('the bus is closed');
    const ttl = options.dedupWindowMs ?? this.options.dedupWindowMs;
    const jobs: JobSpec[] = [];
    const at = from !== undefined && this.journal ? Date.now() : undefined;
    const unrouted: Promise<unknown>[] = [];
    const routes: string[][] = [];
    for (let e = 0; e < events.length; e++) {
      const event = events[e]!;
      const matched = this.router.match(event);
      const targets = matched.some((t) => t.filter) ? await this.applyFilters(event, matched) : matched;
      const to = targets.map((t) => t.name);
      routes.push(to);
      if (targets.length === 0) {
        unrouted.push(this.connection.xadd(`${this.prefix}:unrouted`, 'MAXLEN', '~', UNROUTED_MAX, '*', 'event', JSON.stringify(event)));
        continue;
      }
      const data = serializeCloudEvent(event, options.dataJson?.[e]);
      for (const fn of targets) {
        const target = this.targets.get(fn.name)!;
        const jobId = jobIdFor(fn.name, event);
        jobs.push({ target, jobId, name: event.type, data, dedupTtlMs: ttl });
      }
    }
    let results: number[] = [];
    try {
      if (unrouted.length) await this.withinTimeout(Promise.all(unrouted));
      if (jobs.length) results = await this.enqueuer.enqueue(jobs);
    } catch (err) {
      if (err instanceof BusUnavailableError) throw err;
      throw new BusUnavailableError(err instanceof EnqueueTimeoutError ? err.message : (err as Error).message, { cause: err });
    }
    let duplicates = 0;
    let refused: Set<string> | undefined;
    for (let i = 0; i < results.length; i++) {
      if (results[i] === 0) duplicates++;
      else if (results[i] === -1) (refused ??= new Set()).add(this.queueNameOf(jobs[i]!.target));
    }
    // Arrivals are journaled once Redis has their jobs (duplicates included), not when it refused one of them (the sender retries).
    if (at !== undefined) {
      for (let e = 0, first = 0; e < events.length; first += routes[e]!.length, e++) {
        if (refused && results.slice(first, first + routes[e]!.length).includes(-1)) continue;
        this.journal!.arrive(events[e]!.id, at, from!, events[e]!, routes[e]!);
      }
    }
    if (refused) {
      this.refusedForBackpressure += events.length;
      throw new BackpressureError([...refused]);
    }
    return { ids: events.map((e) => e.id), routed: jobs.length, duplicates, routes };
  }

  /** JSONata filters run only for the targets whose trigger already matched. */
  private async applyFilters(event: CloudEvent, targets: FunctionConfig[]): Promise<FunctionConfig[]> {
    const keep = await Promise.all(targets.map(async (t) => !t.filter || Boolean(await t.filter.evaluate(event).catch(() => false))));
    return targets.filter((_, i) => keep[i]);
  }

  private async withinTimeout<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new BusUnavailableError(`Redis did not answer within ${this.options.enqueueTimeoutMs} ms`)),
        this.options.enqueueTimeoutMs,
      );
    });
    try {
      return await Promise.race([work, timeout]);
    } catch (err) {
      if (err instanceof BusUnavailableError || err instanceof BackpressureError) throw err;
      throw new BusUnavailableError((err as Error).message, { cause: err });
    } finally {
      clearTimeout(timer);
      // A write that lost the race may still fail later; the caller already has its answer.
      work.catch(() => {});
    }
  }

  /** True when Redis answers a PING within the timeout. */
  async ping(timeoutMs = 1000): Promise<boolean> {
    if (this.connection.status !== 'ready') return false;
    try {
      await Promise.race([this.connection.ping(), new Promise((_, r) => setTimeout(r, timeoutMs).unref())]);
      return true;
    } catch {
      return false;
    }
  }

  /** Waits, with bounded retries, until Redis answers; startup fails fast with a clear message otherwise. */
  async waitUntilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.ping()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new SwitchboardError('SWB_ERR_REDIS_UNAVAILABLE', `Redis at ${describeRedis(this.options.redis)} did not answer within ${timeoutMs} ms`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.journal?.close();
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    this.connection.disconnect();
  }
}
