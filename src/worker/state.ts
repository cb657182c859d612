/** `ctx.state`: a small key-value store in Redis, scoped to one function, with TTLs. */
import type { Redis } from 'ioredis';
import { toMilliseconds } from '../config/units.js';

export interface StateOptions {
  /** Milliseconds or a duration such as "10m"; without it the key lives until deleted. */
  ttl?: number | string;
}

export interface FunctionState {
  get<T = unknown>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown, options?: StateOptions): Promise<void>;
  /** Adds `by` (default 1) and returns the new value; a TTL is set when the counter is created (a fixed window). */
  incr(key: string, by?: number, options?: StateOptions): Promise<number>;
  /** True when the key existed. */
  delete(key: string): Promise<boolean>;
}

export function functionState(redis: Redis, prefix: string, functionName: string): FunctionState {
  const keyOf = (key: string) => {
    if (typeof key !== 'string' || key.length === 0 || key.length > 512) throw new Error('state keys are non-empty strings of at most 512 characters');
    return `${prefix}:state:${functionName}:${key}`;
  };
  const ttlOf = (options?: StateOptions) => (options?.ttl === undefined ? undefined : toMilliseconds(options.ttl));
  return {
    async get<T>(key: string) {
      const raw = await redis.get(keyOf(key));
      return raw === null ? undefined : (JSON.parse(raw) as T);
    },
    async set(key, value, options) {
      const ttl = ttlOf(options);
      const json = JSON.stringify(value ?? null);
      if (ttl) await redis.set(keyOf(key), json, 'PX', ttl);
      else await redis.set(keyOf(key), json);
    },
    async incr(key, by = 1, options) {
      const k = keyOf(key);
      const ttl = ttlOf(options);
      if (!ttl) return redis.incrby(k, by);
      const [[, value]] = (await redis.multi().incrby(k, by).pexpire(k, ttl, 'NX').exec()) as [[Error | null, number]];
      return value;
    },
    async delete(key) {
      return (await redis.del(keyOf(key))) === 1;
    },
  };
}
