/** Redis connections: producers fail fast, workers block and wait, as BullMQ requires. */
import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export function resolveRedisUrl(configured?: string, env: NodeJS.ProcessEnv = process.env): string {
  return configured ?? env.REDIS_URL ?? DEFAULT_REDIS_URL;
}

// After a failover a client may still talk to a replica that answers READONLY: reconnect then.
const reconnectOnError: RedisOptions['reconnectOnError'] = (err) => err.message.startsWith('READONLY');
const retryStrategy = (times: number): number => Math.min(100 * 2 ** Math.min(times, 5), 2000);

/** For enqueueing: no offline queue and one retry, so a request never waits on a dead Redis. */
export function producerConnection(url: string): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy,
    reconnectOnError,
    lazyConnect: false,
  });
}

/** Options for BullMQ workers, which keep blocking connections open and must retry forever. */
export function workerConnectionOptions(url: string): BullRedisOptions {
  return { url, maxRetriesPerRequest: null, retryStrategy, reconnectOnError };
}
