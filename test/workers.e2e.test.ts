/**
 * A function that blocks its worker's event loop past the lock duration loses no event: another worker
 * takes the stalled job. It may run twice — which is why functions get ctx.idempotencyKey.
 */
import path from 'node:path';
import { Redis } from 'ioredis';
import { bootSwitchboard, deleteKeys, FIXTURES, REDIS_URL, uniquePrefix, waitFor } from './helpers/index.js';
import { spawnCli, writeConfig } from './helpers/cli.js';

test('an event-loop-blocking function past its lock loses no event: it runs, and the job ends completed or dead-lettered, never stuck', async () => {
  const prefix = uniquePrefix('blocker');
  const key = `${prefix}-runs`;
  const yaml = `redis: { prefix: ${prefix} }\nbus: { lockDuration: 1s, keepCompleted: 10 }\nfunctions:\n  - { name: blocker, runtime: node, module: ${path.join(FIXTURES, 'functions/blocker.js')}, trigger: { type: com.example.block }, timeout: 60s, retry: { attempts: 5, backoff: { type: fixed, delay: 100ms } } }\n`;
  const file = writeConfig(yaml);
  const env = { SOAK_REDIS_URL: REDIS_URL, SOAK_KEY: key };
  const workers = [spawnCli(['worker', '--config', file], env), spawnCli(['worker', '--config', file], env)];
  const redis = new Redis(REDIS_URL);
  let publisher: Awaited<ReturnType<typeof bootSwitchboard>> | undefined;
  try {
    await waitFor(() => workers.every((w) => w.output().includes('switchboard worker running')), 'both workers', 20_000);
    publisher = await bootSwitchboard(yaml, { gateway: false, worker: false, prefix });
    await publisher.sb.bus.publish([{ specversion: '1.0', id: 'blocking-1', source: '/t', type: 'com.example.block', data: { blockMs: 4000 } }]);
    const runs = await waitFor(async () => Number((await redis.hget(`${key}:runs`, 'blocking-1')) ?? 0) || undefined, 'the event to run', 40_000);
    expect(runs).toBeGreaterThanOrEqual(1);
    const { jobIdFor } = await import('../src/bus/bus.js');
    const queue = publisher.sb.bus.queue('blocker')!;
    const state = await waitFor(async () => {
      const s = await (await queue.getJob(jobIdFor('blocker', { source: '/t', id: 'blocking-1' })))?.getState();
      return (s === 'completed' || s === 'failed') && s;
    }, 'the job to settle', 60_000);
    // A run that never renews its lock is stalled again and again; BullMQ then dead-letters the job,
    // where it is visible and replayable: never silently gone.
    if (state === 'failed') {
      const job = await queue.getJob(jobIdFor('blocker', { source: '/t', id: 'blocking-1' }));
      expect(job!.failedReason).toMatch(/stalled/);
    }
    expect(await queue.getActiveCount()).toBe(0);
  } finally {
    await publisher?.close();
    for (const w of workers) w.child.kill('SIGKILL');
    await redis.del(`${key}:runs`);
    redis.disconnect();
    await deleteKeys(prefix);
  }
}, 90_000);
