/**
 * What a process loads is memory it holds: a gateway that only receives webhooks must not load the
 * SDKs that other connectors and settings need (they load on first use), and an idle process gives
 * back the heap it grew.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { deleteKeys, REDIS_URL, uniquePrefix } from './helpers/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * A script that starts Switchboard from the compiled build, as deployed: a gateway for one webhook
 * connector (with WORKER=1 also the worker of one node function), `options` added to its start
 * options, then `body`, which prints its result as a line `RESULT <json>`.
 */
const script = (options: string, body: string) => `
import { createRequire } from 'node:module';
import v8 from 'node:v8';
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
const sb = await startSwitchboard({ config, gateway: true, worker: process.env.WORKER === '1', redisUrl: process.env.REDIS_URL, log: createLogger({ level: 'warn' }), listen: { host: '127.0.0.1', port: 0 }, importModule: (m) => import(m), ${options} });
${body}
await sb.close(0);
process.exit(0);
`;

async function runScript<T>(source: string, worker: boolean): Promise<T> {
  const prefix = uniquePrefix('footprint');
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', source], { cwd: root, env: { ...process.env, FOOTPRINT_SECRET: 's3cret', ROOT: root, PREFIX: prefix, REDIS_URL, WORKER: worker ? '1' : '0' }, timeout: 40_000 });
    return JSON.parse(stdout.split('\n').find((line) => line.startsWith('RESULT '))!.slice('RESULT '.length)) as T;
  } finally {
    await deleteKeys(prefix);
  }
}

// The packages in the module cache once started.
const LOADED = script('', `
const loaded = new Set(Object.keys(createRequire(import.meta.url).cache).map((f) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(f)?.[1]).filter(Boolean));
console.log('RESULT ' + JSON.stringify([...loaded]));`);

const LOADED_ON_FIRST_USE = ['@aws-sdk/client-sqs', 'undici', 'jsonata', 'mqtt', 'nats', 'amqplib', '@slack/web-api', '@slack/webhook', 'googleapis', 'google-auth-library', '@opentelemetry/sdk-trace-node', '@fastify/swagger', '@bull-board/api', 'node-cron'];

// Grows the young generation (objects that survive a while, as under load), then idles: the young
// generation's size when grown and right after the trim, and the trims made.
const IDLE = script('idleHeapTrim: { windowMs: 6000, afterBusyMs: 6000, onTrim: () => { trims++; afterTrim = young(); } }', `
const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
const ring = new Array(20000);
for (let i = 0; i < 3_000_000; i++) ring[i % ring.length] = { i, text: 'x'.repeat(i % 64) };
const grown = young();
const started = Date.now();
while ((afterTrim === undefined || afterTrim > 4 * 2 ** 20) && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 250));
console.log('RESULT ' + JSON.stringify({ grown, afterTrim, trims }));`).replace('const sb =', 'let trims = 0;\nlet afterTrim;\nconst sb =');

// How often an idle process's main thread is woken: its context switches over 2 s without traffic.
const WAKE_UPS = script('', `
const { readFileSync } = await import('node:fs');
const switches = () => { const s = readFileSync('/proc/self/status', 'utf8'); return Number(/\\nvoluntary_ctxt_switches:\\s+(\\d+)/.exec(s)[1]) + Number(/nonvoluntary_ctxt_switches:\\s+(\\d+)/.exec(s)[1]); };
await new Promise((r) => setTimeout(r, 500));
const before = switches();
await new Promise((r) => setTimeout(r, 2000));
console.log('RESULT ' + JSON.stringify({ perSecond: (switches() - before) / 2 }));`);

// The two ways a process is started here: a gateway, and a gateway with a worker.
const PROCESSES: [string, boolean][] = [
  ['a gateway', false],
  ['a gateway and worker', true],
];

describe('footprint', () => {
  test.each(PROCESSES)('%s for webhooks and a node function loads none of the SDKs other connectors and settings need', async (_name, worker) => {
    const loaded = await runScript<string[]>(LOADED, worker);
    expect(loaded).toEqual(expect.arrayContaining(['fastify', 'ioredis']));
    expect(loaded.filter((p) => LOADED_ON_FIRST_USE.includes(p))).toEqual([]);
    // A gateway publishes with its own script: BullMQ's code loads with a worker or a Queue.
    expect(loaded.includes('bullmq')).toBe(worker);
  });

  // An idle pod costs its node little: timers that wake it many times a second (prom-client's event-loop
  // lag metric sampled every 10 ms: 100 wake-ups a second) keep a core out of its idle states.
  test.each(PROCESSES)('%s idling is woken fewer than 30 times a second', async (_name, worker) => {
    const { perSecond } = await runScript<{ perSecond: number }>(WAKE_UPS, worker);
    expect(perSecond).toBeLessThan(30);
  });

  test('an idle gateway gives back the young generation it grew (idle heap trim)', async () => {
    const r = await runScript<{ grown: number; afterTrim?: number; trims: number }>(IDLE, false);
    expect(r.grown).toBeGreaterThanOrEqual(8 * 2 ** 20);
    // Measured right after the trim's collection, so V8's own reducer cannot be what shrank it.
    expect(r.trims).toBeGreaterThanOrEqual(1);
    expect(r.afterTrim).toBeLessThanOrEqual(4 * 2 ** 20);
  }, 45_000);
});
