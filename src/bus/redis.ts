/** Redis connections: producers fail fast, workers block and wait, as BullMQ requires. */
import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Redis Sentinel: the master's name and the sentinels to ask for it. */
export interface SentinelTarget {
  masterName: string;
  /** `host:port` of each sentinel. */
  sentinels: string[];
  password?: string;
  sentinelPassword?: string;
  db?: number;
  tls?: boolean;
}

/** Where Redis is: a URL, or a Sentinel-managed master. */
export type RedisTarget = string | SentinelTarget;

export function resolveRedisUrl(configured?: string, env: NodeJS.ProcessEnv = process.env): string {
  return configured ?? env.REDIS_URL ?? DEFAULT_REDIS_URL;
}

/**
 * The configured Sentinel (config `redis.sentinel`, or $REDIS_SENTINELS with $REDIS_SENTINEL_MASTER
 * and $REDIS_PASSWORD, as the Helm chart sets them), else the URL.
 */
export function resolveRedisTarget(config: { url?: string; sentinel?: SentinelTarget }, env: NodeJS.ProcessEnv = process.env): RedisTarget {
  if (config.sentinel) return config.sentinel;
  if (env.REDIS_SENTINELS) {
    return {
      masterName: env.REDIS_SENTINEL_MASTER ?? 'mymaster',
      sentinels: env.REDIS_SENTINELS.split(',').map((s) => s.trim()).filter(Boolean),
      ...(env.REDIS_PASSWORD ? { password: env.REDIS_PASSWORD } : {}),
      ...(env.REDIS_DB ? { db: Number(env.REDIS_DB) } : {}),
    };
  }
  return resolveRedisUrl(config.url, env);
}

/** For messages: never the password. */
export function describeRedis(target: RedisTarget): string {
  return typeof target === 'string' ? target.replace(/\/\/[^@/]*@/, '//***@') : `sentinel master ${target.masterName} via ${target.sentinels.join(', ')}`;
}

function sentinelOptions(target: SentinelTarget): RedisOptions {
  return {
    name: target.masterName,
    sentinels: target.sentinels.map((s) => {
      const [host, port] = s.split(':');
      return { host: host!, port: Number(port ?? 26379) };
    }),
    ...(target.password ? { password: target.password } : {}),
    ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
    ...(target.db !== undefined ? { db: target.db } : {}),
    ...(target.tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
  };
}

// After a failover a client may still talk to a replica that answers READONLY: reconnect then.
const reconnectOnError: RedisOptions['reconnectOnError'] = (err) => err.message.startsWith('READONLY');
const retryStrategy = (times: number): number => Math.min(100 * 2 ** Math.min(times, 5), 2000);

/** For enqueueing: no offline queue and one retry, so a request never waits on a dead Redis. */
export function producerConnection(target: RedisTarget): Redis {
  const options: RedisOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy, reconnectOnError, lazyConnect: false };
  // Not coalesced (see coalesceWrites): a producer writes once per batch already, and holding a lone
  // request's write to the end of the tick measurably added latency at low load.
  return typeof target === 'string' ? new Redis(target, options) : new Redis({ ...sentinelOptions(target), ...options });
}

/** Options for BullMQ workers, which keep blocking connections open and must retry forever. */
export function workerConnectionOptions(target: RedisTarget): BullRedisOptions {
  const base = { maxRetriesPerRequest: null, retryStrategy, reconnectOnError };
  return typeof target === 'string' ? { url: target, ...base } : ({ ...sentinelOptions(target), ...base } as BullRedisOptions);
}

/**
 * Coalesces a connection's writes within one event-loop tick into one `writev`: a worker finishing
 * many jobs in one tick sends BullMQ's commands in one syscall instead of one each (on a small VM a
 * loopback write costs more than the command). Commands and their order are untouched: only how
 * they are packed into the socket changes, unlike ioredis's auto-pipelining.
 */
export function coalesceWrites(redis: Redis): void {
  const wrap = () => {
    const stream = (redis as unknown as { stream?: import('node:net').Socket & { switchboardCoalesced?: boolean } }).stream;
    if (!stream || stream.switchboardCoalesced) return;
    stream.switchboardCoalesced = true;
    const write = stream.write;
    let corked = false;
    const uncork = () => {
      corked = false;
      stream.uncork();
    };
    stream.write = function (this: typeof stream, ...args: unknown[]) {
      if (!corked) {
        corked = true;
        stream.cork();
        process.nextTick(uncork);
      }
      return (write as (...a: unknown[]) => boolean).apply(this, args);
    } as typeof stream.write;
  };
  wrap();
  redis.on('connect', wrap);
}
