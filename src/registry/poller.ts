/**
 * The shared base of pull-style inbound connectors (SQS, Pub/Sub pull, …): bounded in-flight messages,
 * acknowledgement only after the bus holds the events, lease extension while an enqueue is pending,
 * backing off while the bus is slow or down, poison messages dead-lettered (with their payload and the
 * reason) and acknowledged instead of looping forever, and a graceful stop that leaves unfinished
 * messages unacknowledged so the broker redelivers them.
 */
import type { Logger } from 'pino';
import type { CloudEvent } from '../events/cloudevent.js';
import type { InboundIO, PublishOptions } from './contract.js';

/** Thrown by `toEvent` for a message that can never become a valid CloudEvent. */
export class PoisonMessageError extends Error {}

export interface PollSource<M> {
  /** Waits (long polling) for up to `max` messages; resolves empty on timeout or abort. */
  pull(max: number, signal: AbortSignal): Promise<M[]>;
  /** Acknowledges (deletes) messages whose events the bus holds. */
  ack(messages: M[]): Promise<void>;
  /** Extends the upstream lease (visibility, ack deadline) of messages still being enqueued. */
  extend?(messages: M[]): Promise<void>;
  toEvent(message: M): CloudEvent;
  /** The message's id and raw payload, for the dead letter of a poison message. */
  describe(message: M): { id: string; payload: string };
}

export interface PollerOptions {
  connector: string;
  log: Logger;
  /** Messages fetched per pull. */
  batchSize: number;
  /** Parallel pull loops. */
  concurrency: number;
  /** How often leases are extended while an enqueue is pending; 0 disables. */
  extendEveryMs: number;
  publishOptions?: PublishOptions;
  /** Longest pause between pulls while the bus refuses events. */
  maxBackoffMs?: number;
}

export class Poller<M> {
  private readonly abort = new AbortController();
  private loops: Promise<void>[] = [];
  /** Messages pulled and not yet acknowledged or abandoned. */
  inFlight = 0;

  constructor(
    private readonly source: PollSource<M>,
    private readonly io: InboundIO,
    private readonly options: PollerOptions,
  ) {}

  start(): void {
    for (let i = 0; i < this.options.concurrency; i++) this.loops.push(this.loop());
  }

  private async loop(): Promise<void> {
    const signal = this.abort.signal;
    let backoff = 0;
    while (!signal.aborted) {
      if (backoff) await sleep(backoff, signal);
      let messages: M[];
      try {
        messages = await this.source.pull(this.options.batchSize, signal);
      } catch (err) {
        if (signal.aborted) break;
        this.options.log.warn({ err: (err as Error).message }, 'pull failed');
        backoff = this.nextBackoff(backoff);
        continue;
      }
      if (messages.length === 0) continue;
      this.inFlight += messages.length;
      try {
        await this.handle(messages);
        backoff = 0;
      } catch (err) {
        // Not acknowledged: the broker redelivers them after their lease runs out.
        this.options.log.warn({ err: (err as Error).message, messages: messages.length }, 'events not accepted by the bus; messages left for redelivery');
        backoff = this.nextBackoff(backoff);
      } finally {
        this.inFlight -= messages.length;
      }
    }
  }

  private nextBackoff(current: number): number {
    return Math.min(current ? current * 2 : 200, this.options.maxBackoffMs ?? 5000);
  }

  private async handle(messages: M[]): Promise<void> {
    const events: CloudEvent[] = [];
    const good: M[] = [];
    const poison: { message: M; reason: string }[] = [];
    for (const message of messages) {
      try {
        events.push(this.source.toEvent(message));
        good.push(message);
      } catch (err) {
        if (!(err instanceof PoisonMessageError)) throw err;
        poison.push({ message, reason: err.message });
      }
    }
    const extender =
      this.options.extendEveryMs > 0 && this.source.extend
        ? setInterval(() => void this.source.extend!(messages).catch((e: Error) => this.options.log.warn({ err: e.message }, 'lease extension failed')), this.options.extendEveryMs)
        : undefined;
    try {
      for (const { message, reason } of poison) {
        const { id, payload } = this.source.describe(message);
        await this.io.deadLetter!({ connector: this.options.connector, id, payload, reason });
        this.options.log.warn({ messageId: id, reason, outcome: 'dead-lettered' }, 'poison message dead-lettered');
      }
      if (events.length) await this.io.publish(events, this.options.publishOptions);
    } finally {
      clearInterval(extender);
    }
    await this.source.ack([...good, ...poison.map((p) => p.message)]);
    this.options.log.debug({ events: events.length, poison: poison.length }, 'messages acknowledged');
  }

  /** Stops pulling; what is being enqueued finishes (and is acknowledged), for up to `graceMs`. */
  async close(graceMs = 10_000): Promise<void> {
    this.abort.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(this.loops), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    this.loops = [];
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
