/**
 * A CommonJS dependency loaded on first use, synchronously: large modules that only some
 * configurations need (undici for outbound HTTP, jsonata for expressions, node-cron for schedules)
 * then stay out of the memory of processes that never use them.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function lazyModule<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(name) as T);
}
