import { Worker } from 'bullmq';
import { Bus } from '../src/bus/bus.js';
import { listDeadLetters } from '../src/bus/dead-letters.js';
import { captureLogs, deleteKeys, functionConfig, REDIS_URL, uniquePrefix, waitFor } from './helpers/index.js';

const fn = (name: string) => functionConfig(name, { trigger: { type: `com.example.${name}` } as never, attempts: 1 });

test('dead letters across functions are listed newest first, and the limit keeps the newest', async () => {
  const prefix = uniquePrefix('letters');
  const bus = new Bus({ redis: REDIS_URL, prefix, functions: [fn('first'), fn('second')], dedupWindowMs: 60_000, enqueueTimeoutMs: 2000, log: captureLogs().log });
  const fail = (name: string) => new Worker(`fn.${name}`, async () => Promise.reject(new Error(`${name} failed`)), { connection: { url: REDIS_URL }, prefix });
  try {
    await bus.waitUntilReady(5000);
    // The first function's letters are the oldest: they fail before the second function's job is published.
    await bus.publish([1, 2].map((i) => ({ specversion: '1.0', id: `old-${i}`, source: '/t', type: 'com.example.first' })));
    const first = fail('first');
    await waitFor(async () => (await bus.queue('first')!.getFailedCount()) === 2, 'the first function to fail its jobs');
    await new Promise((r) => setTimeout(r, 5));
    await bus.publish([{ specversion: '1.0', id: 'new-1', source: '/t', type: 'com.example.second' }]);
    const second = fail('second');
    await waitFor(async () => (await bus.queue('second')!.getFailedCount()) === 1, 'the second function to fail its job');
    await Promise.all([first.close(), second.close()]);

    const all = await listDeadLetters(bus, ['first', 'second']);
    expect(all.map((l) => l.event.id)).toEqual(['new-1', expect.stringMatching(/^old-/), expect.stringMatching(/^old-/)]);
    expect(all.map((l) => l.failedAt)).toEqual([...all.map((l) => l.failedAt)].sort().reverse());
    const newest = await listDeadLetters(bus, ['first', 'second'], { limit: 1 });
    expect(newest).toMatchObject([{ function: 'second', error: 'second failed', event: { id: 'new-1' } }]);
  } finally {
    await bus.close();
    await deleteKeys(prefix);
  }
});
