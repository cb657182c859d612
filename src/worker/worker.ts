/**
 * Runs functions and routes: one BullMQ worker per queue, so each has its own concurrency, retries
 * and dead letters. A result can become a new event (emit), which is how workflows chain; a dead
 * letter is announced as a `dev.switchboard.function.failed` event, so a compensating function can react.
 */
import { randomBytes } from 'node:crypto';
import type { Job, Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { Bus } from '../bus/bus.js';
import { bullmq } from '../bus/bullmq.js';
import { coalesceWrites, workerConnectionOptions, type RedisTarget } from '../bus/redis.js';
import type { FunctionConfig } from '../config/load.js';
import { SwitchboardError } from '../errors.js';
import { createCloudEvent, type CloudEvent } from '../events/cloudevent.js';
import type { EmitInput, FunctionContext, FunctionState } from './function-api.js';
import { httpRuntime } from './runtimes/http.js';
import { isolatedRuntime } from './runtimes/isolated.js';
import { loadNodeHandler, type ModuleImporter } from './runtimes/node.js';
import { processRuntime } from './runtimes/process.js';
import { promptWorkerClass } from './prompt-worker.js';
import type { Runtime } from './runtimes/types.js';
import type { Journal } from '../ops/journal.js';
import type { Metrics } from '../ops/metrics.js';
import { activeTraceExtension, eventContext, inSpan, SpanKind, tracingOn } from '../ops/tracing.js';
import { functionState } from './state.js';

export const FUNCTION_FAILED_TYPE = 'dev.switchboard.function.failed';

export interface FunctionWorkersOptions {
  functions: readonly FunctionConfig[];
  bus: Bus;
  redis: RedisTarget;
  prefix: string;
  /** Outbound connector APIs by name: ctx.connectors. */
  connectors: Record<string, object>;
  log: Logger;
  importModule?: ModuleImporter;
  /** BullMQ lock duration; stalled jobs (their worker died) are checked for as often. */
  lockDurationMs?: number;
  metrics?: Metrics;
  journal?: Journal;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/;

/** The distributed-tracing extension for an event caused by `cause`: same trace, a new span. */
export function childTraceContext(cause: CloudEvent): { traceparent: string; tracestate?: string } {
  // With tracing on, the active span (the function's) is the parent.
  const active = activeTraceExtension();
  if (active) return active;
  const parsed = typeof cause.traceparent === 'string' ? TRACEPARENT.exec(cause.traceparent) : null;
  const traceId = parsed?.[1] ?? randomBytes(16).toString('hex');
  const flags = parsed?.[2] ?? '01';
  return {
    traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-${flags}`,
    ...(parsed && typeof cause.tracestate === 'string' ? { tracestate: cause.tracestate } : {}),
  };
}

/** What every run of one function shares, made once when its worker starts. */
interface FunctionUnit {
  fn: FunctionConfig;
  runtime: Runtime;
  log: Logger;
  observe: (outcome: 'succeeded' | 'failed', seconds: number) => void;
  /** The `source` of the events its runs emit. */
  source: string;
}

/** A function this process runs: what its runs share, and the BullMQ worker that takes its jobs. */
interface RunningFunction {
  unit: FunctionUnit;
  worker: Worker;
}

/** Aborts a run whose worker is shutting down; its job goes back to the queue, not to failed. */
class ShutdownAbort extends Error {}

export class FunctionWorkers {
  /** One BullMQ worker and runtime per function or route, by name. */
  private readonly running = new Map<string, RunningFunction>();
  /**
   * Runs in progress (for timeouts, and so a forced shutdown can hand their jobs back), linked through
   * the runs themselves: a Map gaining and losing an entry per job keeps replacing its table, and a
   * replaced table in the old generation holds the young runs of its moment (and their jobs) through
   * young collections.
   */
  private readonly inFlight = new RunList();
  /** One sweeping timer enforces every run's timeout (cheaper than a timer and a race per job). */
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly options: FunctionWorkersOptions) {}

  private async createRuntime(fn: FunctionConfig): Promise<Runtime> {
    const runtime = fn.runtime;
    switch (runtime.kind) {
      case 'node': {
        if (runtime.isolated) return isolatedRuntime(runtime);
        const handler = await loadNodeHandler(runtime.module, this.options.importModule);
        // Not an async wrapper: that would add a promise and three microtask turns to every run.
        const invoke = (event: CloudEvent, ctx: FunctionContext): Promise<unknown> => {
          try {
            return Promise.resolve(handler(event, ctx));
          } catch (err) {
            return Promise.reject(err);
          }
        };
        return { invoke, close: async () => {} };
      }
      case 'process':
        return processRuntime(runtime);
      case 'http':
        return httpRuntime(runtime);
      case 'route': {
        const api = this.options.connectors[runtime.connector] as Record<string, unknown> | undefined;
        if (!api || typeof api[runtime.call] !== 'function') {
          const methods = api ? Object.keys(api).filter((k) => typeof api[k] === 'function') : [];
          throw new Error(`route ${fn.name}: connector "${runtime.connector}" has no method "${runtime.call}"; it has: ${methods.join(', ') || 'none'}`);
        }
        const call = (api[runtime.call] as (args: unknown) => unknown).bind(api);
        return { invoke: async (event) => call(await runtime.args.evaluate(event)), close: async () => {} };
      }
    }
  }

  async start(): Promise<void> {
    for (const fn of this.options.functions) await this.add(fn);
  }

  /** The functions this process runs now, by name. */
  current(): Map<string, FunctionConfig> {
    return new Map([...this.running].map(([name, r]) => [name, r.unit.fn]));
  }

  /** Starts consuming a function's queue (at start, or when a reload adds it). */
  async add(fn: FunctionConfig): Promise<void> {
    const runtime = await this.createRuntime(fn);
    const log = this.options.log.child({ [fn.runtime.kind === 'route' ? 'route' : 'function']: fn.name });
    const unit: FunctionUnit = { fn, runtime, log, observe: this.observerFor(fn), source: this.sourceOf(fn) };
    const worker = new (promptWorkerClass())(fn.queue, (job: Job<CloudEvent>, token?: string) => this.run(unit, job, token), {
      connection: workerConnectionOptions(this.options.redis),
      prefix: this.options.prefix,
      concurrency: fn.concurrency,
      ...(this.options.lockDurationMs ? { lockDuration: this.options.lockDurationMs, stalledInterval: this.options.lockDurationMs } : {}),
    });
    // Jobs finishing in one tick send their moveToFinished calls in one write (see coalesceWrites).
    void worker.backend.client.then((client) => coalesceWrites(client as never), () => {});
    worker.on('error', (err) => log.warn({ err: err.message }, 'worker connection error'));
    worker.on('failed', (job, err) => {
      if (!job) return;
      const finalAttempt = job.attemptsMade >= (job.opts.attempts ?? 1);
      const details = { jobId: job.id, eventId: job.data.id, attempt: job.attemptsMade, err: err.message };
      if (!finalAttempt) return log.info({ ...details, outcome: 'retrying' }, 'failed; will retry');
      log.warn({ ...details, outcome: 'dead-lettered' }, 'failed its last attempt; dead-lettered');
      this.options.metrics?.functionRuns.inc({ function: fn.name, outcome: 'dead-lettered' });
      this.options.journal?.record(job.data.id, { kind: 'dead-lettered', function: fn.name, error: err.message });
      this.announceFailure(unit, job, err).catch((e: Error) => log.error({ ...details, err: e.message }, 'could not publish the failure event'));
    });
    this.running.set(fn.name, { unit, worker });
    await worker.waitUntilReady();
  }

  /** Stops consuming a function's queue, letting its running jobs finish (a reload removed or changed it). */
  async remove(name: string, graceMs = 25_000): Promise<void> {
    const entry = this.running.get(name);
    if (!entry) return;
    this.running.delete(name);
    await this.stop([entry], graceMs);
  }

  private sourceOf(fn: FunctionConfig): string {
    return `/switchboard/${fn.runtime.kind === 'route' ? 'routes' : 'functions'}/${fn.name}`;
  }

  private async announceFailure({ fn, source }: FunctionUnit, job: Job<CloudEvent>, err: Error): Promise<void> {
    const event = createCloudEvent({
      id: `${job.id}-failed-${job.finishedOn ?? Date.now()}`,
      source,
      type: FUNCTION_FAILED_TYPE,
      subject: fn.name,
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      data: { function: fn.name, jobId: job.id, attempts: job.attemptsMade, error: err.message, event: job.data },
      ...childTraceContext(job.data),
    });
    await this.options.bus.publish([event], {}, { function: fn.name });
  }

  /** Records one run's outcome in metrics; the series are resolved once per function, not per run. */
  private observerFor(fn: FunctionConfig): (outcome: 'succeeded' | 'failed', seconds: number) => void {
    const metrics = this.options.metrics;
    if (!metrics) return () => {};
    const runs = { succeeded: metrics.functionRuns.tally({ function: fn.name, outcome: 'succeeded' }), failed: metrics.functionRuns.tally({ function: fn.name, outcome: 'failed' }) };
    const duration = metrics.functionSeconds.tally({ function: fn.name });
    return (outcome, seconds) => {
      runs[outcome].add(1);
      duration.observe(seconds);
    };
  }

  private async run(unit: FunctionUnit, job: Job<CloudEvent>, token?: string): Promise<unknown> {
    const { fn, observe } = unit;
    const flight = new InFlightRun(job, token, Date.now() + fn.timeoutMs, fn);
    this.inFlight.add(flight);
    this.sweeper ??= setInterval(() => this.sweep(), TIMEOUT_SWEEP_MS).unref();
    const started = performance.now();
    const attempt = job.attemptsMade + 1;
    try {
      const result = !tracingOn()
        ? await this.runJob(unit, job, flight)
        : await inSpan(`function ${fn.name}`, SpanKind.CONSUMER, eventContext(job.data), { 'switchboard.function': fn.name, 'cloudevents.event_id': job.data.id, 'cloudevents.event_type': job.data.type, 'switchboard.attempt': attempt }, () =>
            this.runJob(unit, job, flight),
          );
      const ms = performance.now() - started;
      observe('succeeded', ms / 1000);
      this.options.journal?.record(job.data.id, { kind: 'attempt', function: fn.name, attempt, outcome: 'succeeded', durationMs: Math.round(ms) });
      return result;
    } catch (err) {
      const ms = performance.now() - started;
      observe('failed', ms / 1000);
      this.options.journal?.record(job.data.id, { kind: 'attempt', function: fn.name, attempt, outcome: 'failed', error: (err as Error).message, durationMs: Math.round(ms) });
      // Handed back to the queue by a forced shutdown: tell BullMQ not to fail it.
      if (flight.reason instanceof ShutdownAbort) throw new (bullmq().WaitingError)();
      throw err;
    } finally {
      this.inFlight.remove(flight);
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const flight of this.inFlight) if (flight.deadline <= now) flight.timeOut();
    if (!this.inFlight.first) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private async runJob({ fn, runtime, log, source }: FunctionUnit, job: Job<CloudEvent>, flight: InFlightRun): Promise<unknown> {
    const cause = job.data;
    const jobId = job.id!;
    const ctx = new RunContext(fn, job, log, flight, source, this.options);
    const event = fn.input ? { ...cause, data: await fn.input.evaluate(cause) } : cause;
    const result = await flight.race(runtime.invoke(event, ctx));
    if (flight.reason) throw flight.reason;
    if (fn.emit && result !== undefined) {
      const data = fn.emit.data ? await fn.emit.data.evaluate(result, { event: cause }) : result;
      const next = createCloudEvent({
        id: `${jobId}-result`,
        source: fn.emit.source ?? source,
        type: fn.emit.type,
        time: new Date().toISOString(),
        ...(fn.emit.subject ? { subject: fn.emit.subject } : {}),
        datacontenttype: 'application/json',
        data,
        ...childTraceContext(cause),
      });
      await publishEmitted(this.options, fn.name, cause, next);
    }
    return result ?? null;
  }

  /**
   * Stops taking jobs and lets running ones finish for up to `graceMs`; then aborts what is left and
   * puts those jobs back in their queues at once (not after a lock expiry), so another worker retries them.
   */
  async close(graceMs = 25_000): Promise<void> {
    const entries = [...this.running.values()];
    this.running.clear();
    await this.stop(entries, graceMs);
  }

  private async stop(entries: RunningFunction[], graceMs: number): Promise<void> {
    const finished = Promise.all(entries.map((e) => e.worker.close()));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([finished.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
    clearTimeout(timer);
    if (timedOut) {
      const queues = new Set(entries.map((e) => e.unit.fn.queue));
      const abandoned = [...this.inFlight].filter((flight) => queues.has(flight.fn.queue));
      this.options.log.warn({ jobs: abandoned.length, graceMs }, 'shutdown grace period over; handing running jobs back to their queues');
      await Promise.all(
        abandoned.map(async (flight) => {
          flight.stop(new ShutdownAbort('worker shutting down'));
          await flight.job.moveToWait(flight.token).catch(() => {});
        }),
      );
      await Promise.all(entries.map((e) => e.worker.close(true)));
    }
    await Promise.all(entries.map((e) => e.unit.runtime.close()));
  }
}

/**
 * What a run's function gets as `ctx`. A class, so that its getters live on the prototype: an object
 * literal whose getters close over each run made V8 keep every run's context and job alive through
 * young collections (3.7 KB per job promoted and collected only by full collections, a third of a
 * draining worker's busy time). The logger, abort signal and state API are built only if used.
 */
class RunContext implements FunctionContext {
  readonly functionName: string;
  readonly connectors: Record<string, object>;
  readonly attempt: number;
  readonly idempotencyKey: string;
  private childLog: Logger | undefined;
  private stateApi: FunctionState | undefined;
  private emitted = 0;

  constructor(
    private readonly fn: FunctionConfig,
    private readonly job: Job<CloudEvent>,
    private readonly runLog: Logger,
    private readonly flight: InFlightRun,
    private readonly source: string,
    private readonly options: FunctionWorkersOptions,
  ) {
    this.functionName = fn.name;
    this.connectors = options.connectors;
    this.attempt = job.attemptsMade + 1;
    this.idempotencyKey = job.id!;
  }

  get log(): Logger {
    return (this.childLog ??= this.runLog.child({ eventId: this.job.data.id, attempt: this.attempt }));
  }

  get signal(): AbortSignal {
    return this.flight.signal;
  }

  get state(): FunctionState {
    return (this.stateApi ??= functionState(this.options.bus.connection, this.options.prefix, this.fn.name));
  }

  /** An arrow field, not a method: handlers may take `emit` off ctx and call it alone. */
  readonly emit = async (input: EmitInput): Promise<string> => {
    const cause = this.job.data;
    const out = createCloudEvent({
      time: new Date().toISOString(),
      ...childTraceContext(cause),
      ...input,
      id: input.id ?? `${this.idempotencyKey}-emit-${++this.emitted}`,
      source: input.source ?? this.source,
    });
    return publishEmitted(this.options, this.fn.name, cause, out);
  };
}

/** Publishes an event a run emitted (by ctx.emit or as its result), journaled as arriving from the function and on its cause. */
async function publishEmitted(options: FunctionWorkersOptions, functionName: string, cause: CloudEvent, event: CloudEvent): Promise<string> {
  await options.bus.publish([event], {}, { function: functionName });
  options.journal?.record(cause.id, { kind: 'emitted', function: functionName, eventId: event.id, type: event.type });
  return event.id;
}

const TIMEOUT_SWEEP_MS = 50;

/**
 * A run in progress: its deadline, and how to stop it (timeout or shutdown). The AbortController behind
 * `ctx.signal` is created only if the function asks for the signal.
 */
class InFlightRun {
  reason: Error | undefined;
  /** Neighbours in the worker's list of runs in flight. */
  prev: InFlightRun | undefined;
  next: InFlightRun | undefined;
  private controller: AbortController | undefined;
  private rejectRace: ((err: Error) => void) | undefined;

  constructor(
    readonly job: Job<CloudEvent>,
    readonly token: string | undefined,
    readonly deadline: number,
    readonly fn: FunctionConfig,
  ) {}

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.reason && !this.controller.signal.aborted) this.controller.abort(this.reason);
    return this.controller.signal;
  }

  /** The function's result, or a rejection as soon as the run is stopped. */
  race<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.rejectRace = reject;
      work.then(resolve, reject);
    });
  }

  timeOut(): void {
    this.stop(new SwitchboardError('SWB_ERR_FUNCTION_TIMEOUT', `function ${this.fn.name} timed out after ${this.fn.timeoutMs} ms`));
  }

  stop(reason: Error): void {
    if (this.reason) return;
    this.reason = reason;
    this.controller?.abort(reason);
    this.rejectRace?.(reason);
  }
}

/** A doubly linked list of runs, through their own `prev` and `next`: adding and removing allocate nothing. */
class RunList {
  first: InFlightRun | undefined;

  add(run: InFlightRun): void {
    run.next = this.first;
    if (this.first) this.first.prev = run;
    this.first = run;
  }

  remove(run: InFlightRun): void {
    if (run.prev) run.prev.next = run.next;
    else if (this.first === run) this.first = run.next;
    if (run.next) run.next.prev = run.prev;
    run.prev = run.next = undefined;
  }

  /** Reads each run's successor before yielding it, so the loop may go on after the run leaves the list. */
  *[Symbol.iterator](): Iterator<InFlightRun> {
    for (let run = this.first; run; ) {
      const next = run.next;
      yield run;
      run = next;
    }
  }
}
