/** Redis Sentinel: a private redis-server and a sentinel watching it; the bus finds the master through it. */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findOnPath, freePort, pingRedis, startRedisServer } from '../src/cli/embedded-redis.js';
import { resolveRedisTarget } from '../src/bus/redis.js';
import { bootSwitchboard, startRecorder, waitFor } from './helpers/index.js';

const redisServer = findOnPath('redis-server');

(redisServer ? describe : describe.skip)('Redis Sentinel', () => {
  test('events flow through a Sentinel-discovered master', async () => {
    const master = await startRedisServer(redisServer!);
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'swb-sentinel-'));
    const conf = path.join(dir, 'sentinel.conf');
    writeFileSync(conf, `port ${port}\nbind 127.0.0.1\nsentinel monitor swbmaster 127.0.0.1 ${master.port} 1\nsentinel down-after-milliseconds swbmaster 5000\n`);
    const sentinel = spawn(redisServer!, [conf, '--sentinel'], { stdio: 'ignore' });
    const recorder = await startRecorder();
    try {
      await waitFor(() => pingRedis('127.0.0.1', port), 'the sentinel to answer');
      const target = resolveRedisTarget({}, { REDIS_SENTINELS: `127.0.0.1:${port}`, REDIS_SENTINEL_MASTER: 'swbmaster' });
      expect(target).toEqual({ masterName: 'swbmaster', sentinels: [`127.0.0.1:${port}`] });
      const t = await bootSwitchboard(
        `connectors:\n  - { name: recorder, type: http, config: { baseUrl: "${recorder.url}", allowPrivateNetworks: true } }\nfunctions:\n  - { name: sink, runtime: node, module: ./functions/record.js, trigger: { type: com.example.sentinel } }\n`,
        { gateway: false, redisUrl: target },
      );
      try {
        await t.sb.bus.publish([{ specversion: '1.0', id: 's1', source: '/sentinel', type: 'com.example.sentinel' }]);
        await waitFor(() => recorder.requests.some((r) => r.json?.event?.id === 's1'), 'the function to run');
      } finally {
        await t.sb.close();
      }
    } finally {
      sentinel.kill('SIGKILL');
      await master.stop();
      await recorder.close();
    }
  }, 30_000);
});
