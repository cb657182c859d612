/** ctx.state on real Redis: scoped per function, JSON values, TTLs, fixed-window counters. */
import { Redis } from 'ioredis';
import { functionState } from '../src/worker/state.js';
import { deleteKeys, REDIS_URL, uniquePrefix } from './helpers/index.js';

describe('function state', () => {
  const prefix = uniquePrefix('state');
  const redis = new Redis(REDIS_URL);
  afterAll(async () => {
    await deleteKeys(prefix);
    redis.disconnect();
  });

  test('values are JSON, scoped to the function, and can expire', async () => {
    const a = functionState(redis, prefix, 'a');
    const b = functionState(redis, prefix, 'b');
    await a.set('cart', { items: 2 });
    expect(await a.get('cart')).toEqual({ items: 2 });
    expect(await b.get('cart')).toBeUndefined();
    await a.set('short', 'lived', { ttl: '1s' });
    expect(await redis.pttl(`${prefix}:state:a:short`)).toBeGreaterThan(0);
    expect(await a.delete('cart')).toBe(true);
    expect(await a.delete('cart')).toBe(false);
  });

  test('counters with a TTL keep the window set when they were created', async () => {
    const s = functionState(redis, prefix, 'counter');
    expect(await s.incr('hits', 1, { ttl: 60_000 })).toBe(1);
    await redis.pexpire(`${prefix}:state:counter:hits`, 30_000);
    expect(await s.incr('hits', 2, { ttl: 60_000 })).toBe(3);
    expect(await redis.pttl(`${prefix}:state:counter:hits`)).toBeLessThanOrEqual(30_000);
    await expect(s.get('')).rejects.toThrow('state keys are non-empty strings');
  });
});
