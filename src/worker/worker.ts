/**
 * Runs functions: one BullMQ worker per function queue, so each function has its own concurrency,
 * retries and dead letters. A function's result can become a new event (emit), which is how
 * workflows chain.
 */
import { Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { functionQueueName, type Bus } from '../bus/bus.js';
import { workerConnectionOptions } from '../bus/redis.js';
import type { FunctionConfig } from '../config/load.js';
import { SwitchboardError } from '../errors.js';
import { createCloudEvent, type CloudEvent } from '../events/cloudevent.js';
import type { EmitInput, FunctionContext, FunctionHandler } from './function-api.js';
import { loadNodeHandler, type ModuleImporter } from './runtimes/node.js';

export interface FunctionWorkersOptions {
  functions: readonly FunctionConfig[];
  bus: Bus;
  redisUrl: string;
  prefix: string;
  /** Outbound connector APIs by name: ctx.connectors. */
  connectors: Record<string, object>;
  log: Logger;
  importModule?: ModuleImporter;
}

export class FunctionWorkers {
  private readonly workers: Worker[] = [];

  constructor(private readonly options: FunctionWorkersOptions) {}

  async start(): Promise<void> {
    const handlers = await Promise.all(this.options.functions.map(async (fn) => [fn, await loadNodeHandler(fn.module, this.options.importModule)] as const));
    for (const [fn, handler] of handlers) {
      const log = this.options.log.child({ function: fn.name });
      const worker = new Worker(functionQueueName(fn.name), (job: Job<CloudEvent>) => this.run(fn, handler, job, log), {
        connection: workerConnectionOptions(this.options.redisUrl),
        prefix: this.options.prefix,
        concurrency: fn.concurrency,
      });
      worker.on('error', (err) => log.warn({ err: err.message }, 'worker connection error'));
      worker.on('failed', (job, err) => {
        if (!job) return;
        const finalAttempt = job.attemptsMade >= (job.opts.attempts ?? 1);
        const details = { jobId: job.id, eventId: job.data.id, attempt: job.attemptsMade, err: err.message };
        if (finalAttempt) log.warn({ ...details, outcome: 'dead-lettered' }, 'function failed its last attempt; dead-lettered');
        else log.info({ ...details, outcome: 'retrying' }, 'function failed; will retry');
      });
      this.workers.push(worker);
    }
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
  }

  private async run(fn: FunctionConfig, handler: FunctionHandler, job: Job<CloudEvent>, log: Logger): Promise<unknown> {
    const event = job.data;
    const controller = new AbortController();
    const jobId = job.id!;
    let emitted = 0;
    const source = `/switchboard/functions/${fn.name}`;
    const ctx: FunctionContext = {
      functionName: fn.name,
      connectors: this.options.connectors,
      log: log.child({ eventId: event.id, attempt: job.attemptsMade + 1 }),
      attempt: job.attemptsMade + 1,
      idempotencyKey: jobId,
      signal: controller.signal,
      emit: async (input: EmitInput) => {
        const out = createCloudEvent({ time: new Date().toISOString(), ...input, id: input.id ?? `${jobId}-emit-${++emitted}`, source: input.source ?? source });
        await this.options.bus.publish([out]);
        return out.id;
      },
    };
    const result = await withTimeout(Promise.resolve().then(() => handler(event, ctx)), fn.timeoutMs, controller, fn.name);
    if (fn.emit && result !== undefined) {
      const next = createCloudEvent({
        id: `${jobId}-result`,
        source: fn.emit.source ?? source,
        type: fn.emit.type,
        time: new Date().toISOString(),
        ...(fn.emit.subject ? { subject: fn.emit.subject } : {}),
        datacontenttype: 'application/json',
        data: result,
      });
      await this.options.bus.publish([next]);
    }
    return result ?? null;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
    this.workers.length = 0;
  }
}

async function withTimeout<T>(work: Promise<T>, ms: number, controller: AbortController, name: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new SwitchboardError('SWB_ERR_FUNCTION_TIMEOUT', `function ${name} timed out after ${ms} ms`);
      controller.abort(err);
      reject(err);
    }, ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
