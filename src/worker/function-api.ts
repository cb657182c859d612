/** What a function module sees. A handler is `export default async (event, ctx) => result`. */
import type { Logger } from 'pino';
import type { CloudEvent } from '../events/cloudevent.js';
import type { FunctionState } from './state.js';

export type { FunctionState, StateOptions } from './state.js';

export interface EmitInput<T = unknown> {
  type: string;
  data?: T;
  /** Defaults to /switchboard/functions/<name>. */
  source?: string;
  subject?: string;
  /** Defaults to an id derived from the job, so a retried run emits the same ids (deduplicated). */
  id?: string;
  [extension: string]: unknown;
}

/**
 * The second argument of a handler. `log`, `signal` and `state` are made on first read; read them from
 * ctx itself (a spread `{ ...ctx }` copies only the plain fields). `emit` may be taken off and called alone.
 */
export interface FunctionContext<Connectors extends object = Record<string, any>> {
  functionName: string;
  /** The outbound connectors declared in the config, by name. */
  connectors: Connectors;
  log: Logger;
  /** Publishes a new event through the router; resolves once it is on the bus. Returns its id. */
  emit<T>(event: EmitInput<T>): Promise<string>;
  /** 1 on the first run, 2 on the first retry, … */
  attempt: number;
  /** Stable across retries and redeliveries of the same event to this function. */
  idempotencyKey: string;
  /** Aborted when the function times out. */
  signal: AbortSignal;
  /** A small key-value store in Redis scoped to this function (counters, dedup, aggregation). */
  state: FunctionState;
}

export type FunctionHandler<Data = any, Result = unknown, Connectors extends object = Record<string, any>> = (
  event: CloudEvent<Data>,
  ctx: FunctionContext<Connectors>,
) => Promise<Result> | Result;
