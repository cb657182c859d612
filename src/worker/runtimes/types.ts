import type { CloudEvent } from '../../events/cloudevent.js';
import type { FunctionContext } from '../function-api.js';

/** Runs one function's invocations; the worker handles timeouts by aborting `ctx.signal`. */
export interface Runtime {
  invoke(event: CloudEvent, ctx: FunctionContext): Promise<unknown>;
  close(): Promise<void>;
}

/** A function run that failed in a way worth retrying, with what the program said. */
export class FunctionFailedError extends Error {}

/** Parses a program's or endpoint's output: JSON when it is JSON, else text; nothing is undefined. */
export function parseOutput(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  try {
    return JSON.parse(trimmed);
  } catch {
    return text;
  }
}
