/**
 * What a process loads is memory it holds: a gateway that only receives webhooks must not load the
 * SDKs that other connectors and settings need (they load on first use).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { deleteKeys, REDIS_URL, uniquePrefix } from './helpers/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// Started from the compiled build, as deployed; prints the packages in the module cache.
const SCRIPT = `
import { createRequire } from 'node:module';
const { parseConfig } = await import(process.env.ROOT + '/dist/src/config/load.js');
const { startSwitchboard } = await import(process.env.ROOT + '/dist/src/switchboard.js');
const { createLogger } = await import(process.env.ROOT + '/dist/src/log.js');
const config = await parseConfig(\`
redis: { prefix: \${process.env.PREFIX} }
admin: { enabled: false }
connectors:
  - { name: github, type: webhook, config: { provider: github, secret: "\\\${env:FOOTPRINT_SECRET}" } }
functions:
  - { name: noop, runtime: node, module: \${process.env.ROOT}/test/fixtures/functions/record.js, trigger: { type: com.github.push } }
\`, process.env.ROOT + '/footprint.yaml');
const sb = await startSwitchboard({ config, gateway: true, worker: process.env.WORKER === '1', redisUrl: process.env.REDIS_URL, log: createLogger({ level: 'warn' }), listen: { host: '127.0.0.1', port: 0 }, importModule: (m) => import(m) });
const loaded = new Set(Object.keys(createRequire(import.meta.url).cache).map((f) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(f)?.[1]).filter(Boolean));
console.log('LOADED ' + JSON.stringify([...loaded]));
await sb.close(0);
process.exit(0);
`;

async function packagesLoaded(worker: boolean): Promise<string[]> {
  const prefix = uniquePrefix('footprint');
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', SCRIPT], { cwd: root, env: { ...process.env, FOOTPRINT_SECRET: 's3cret', ROOT: root, PREFIX: prefix, REDIS_URL, WORKER: worker ? '1' : '0' }, timeout: 30_000 });
    return JSON.parse(stdout.split('\n').find((line) => line.startsWith('LOADED '))!.slice('LOADED '.length)) as string[];
  } finally {
    await deleteKeys(prefix);
  }
}

const LOADED_ON_FIRST_USE = ['@aws-sdk/client-sqs', 'undici', 'jsonata', 'mqtt', 'nats', 'amqplib', '@slack/web-api', '@slack/webhook', 'googleapis', 'google-auth-library', '@opentelemetry/sdk-trace-node', '@fastify/swagger', '@bull-board/api'];

// A gateway from the build whose young generation has grown (objects that survive a while, as under
// load), left idle: prints the young generation's size before, after, and the trims made.
const IDLE_SCRIPT = `
import v8 from 'node:v8';
const { parseConfig } = await import(process.env.ROOT + '/dist/src/config/load.js');
const { startSwitchboard } = await import(process.env.ROOT + '/dist/src/switchboard.js');
const { createLogger } = await import(process.env.ROOT + '/dist/src/log.js');
const config = await parseConfig(\`
redis: { prefix: \${process.env.PREFIX} }
admin: { enabled: false }
connectors:
  - { name: github, type: webhook, config: { provider: github, secret: "\\\${env:FOOTPRINT_SECRET}" } }
\`, process.env.ROOT + '/footprint.yaml');
let trims = 0;
let afterTrim;
const sb = await startSwitchboard({ config, gateway: true, worker: false, redisUrl: process.env.REDIS_URL, log: createLogger({ level: 'warn' }), listen: { host: '127.0.0.1', port: 0 }, idleHeapTrim: { windowMs: 6000, onTrim: () => { trims++; afterTrim = young(); } } });
const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
const ring = new Array(20000);
for (let i = 0; i < 3_000_000; i++) ring[i % ring.length] = { i, text: 'x'.repeat(i % 64) };
const grown = young();
const started = Date.now();
while ((afterTrim === undefined || afterTrim > 4 * 2 ** 20) && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 250));
console.log('YOUNG ' + JSON.stringify({ grown, afterTrim, trims, seconds: (Date.now() - started) / 1000 }));
await sb.close(0);
process.exit(0);
`;

describe('footprint', () => {
  test.each([
    ['a gateway', false],
    ['a gateway and worker', true],
  ])('%s for webhooks and a node function loads none of the SDKs other connectors and settings need', async (_name, worker) => {
    const loaded = await packagesLoaded(worker);
    expect(loaded).toEqual(expect.arrayContaining(['fastify', 'ioredis']));
    expect(loaded.filter((p) => LOADED_ON_FIRST_USE.includes(p))).toEqual([]);
    // A gateway publishes with its own script: BullMQ's code loads with a worker or a Queue.
    expect(loaded.includes('bullmq')).toBe(worker);
  });

  test('an idle gateway gives back the young generation it grew (idle heap trim)', async () => {
    const prefix = uniquePrefix('footprint');
    try {
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', IDLE_SCRIPT], { cwd: root, env: { ...process.env, FOOTPRINT_SECRET: 's3cret', ROOT: root, PREFIX: prefix, REDIS_URL }, timeout: 40_000 });
      const r = JSON.parse(stdout.split('\n').find((line) => line.startsWith('YOUNG '))!.slice('YOUNG '.length)) as { grown: number; afterTrim?: number; trims: number };
      expect(r.grown).toBeGreaterThanOrEqual(8 * 2 ** 20);
      // Measured right after the trim's collection, so V8's own reducer cannot be what shrank it.
      expect(r.trims).toBeGreaterThanOrEqual(1);
      expect(r.afterTrim).toBeLessThanOrEqual(4 * 2 ** 20);
    } finally {
      await deleteKeys(prefix);
    }
  }, 45_000);
});
