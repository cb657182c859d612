import { createHmac } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import webhook from './connectors/webhook/index.js';
import { Bus } from './src/bus/bus.js';
import { journalLayout } from './src/ops/journal.js';
import { createLogger } from './src/log.js';
import type { HttpRoute } from './src/registry/contract.js';

const SECRET = 's';
const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'octo/hello' }, pusher: { name: 'octocat' }, commits: [{ id: 'a1b2c3', message: 'Fix' }] }));
const sig = 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex');
const log = createLogger({ level: 'warn' });
const redisPid = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).find((d) => { try { return readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'redis-server'; } catch { return false; } })!;
const rcpu = () => { const f = readFileSync(`/proc/${redisPid}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) / 100; };
const N = Number(process.env.N ?? 30000), C = 50;

async function drive(name: string, one: (i: number) => Promise<unknown>) {
  let i = 0;
  const c0 = process.cpuUsage(), r0 = rcpu(), t0 = performance.now();
  await Promise.all(Array.from({ length: C }, async () => { while (i < N) await one(i++); }));
  const c = process.cpuUsage(c0), r = rcpu() - r0, t = performance.now() - t0;
  console.log(name.padEnd(14), 'node µs/ev', ((c.user + c.system) / N).toFixed(1), 'redis µs/ev', (r / N * 1e6).toFixed(1), 'rate', (N / t * 1000).toFixed(0));
}
const prefix = 'inproc' + Date.now();
const mode = process.env.MODE ?? 'all';
const fn = { name: 'noop', signature: 'x', queue: 'fn.noop', runtime: { kind: 'node', module: '/dev/null', isolated: false, memoryLimitMb: 128 }, trigger: { type: 'com.github.push' }, attempts: 3, backoff: { type: 'exponential', delay: 1000 }, timeoutMs: 1000, concurrency: 10 } as never;
const bus = new Bus({ redis: 'redis://127.0.0.1:6379', prefix, functions: [fn], dedupWindowMs: 72 * 3600e3, enqueueTimeoutMs: 5000, highWaterMark: 0, ...(process.env.JOURNAL === 'off' ? {} : { journal: journalLayout(prefix, { retentionMs: 7 * 86400e3, maxEvents: 100000 }) }), log });
await bus.waitUntilReady(2000);
let route!: HttpRoute;
const conn = webhook.inbound!({ name: 'github', config: { provider: 'github', secret: SECRET, event: {}, idFallback: 'body-hash' } as never, log, signal: new AbortController().signal });
await conn.start({ publish: process.env.NOPUB ? async (events) => ({ ids: events.map((e) => e.id), routed: 1 }) : (events, o) => bus.publish(events, o, 'github'), http: { route: (r) => { route = r; return () => {}; } } });
const queue = new Queue('naive', { connection: new Redis(), prefix });
for (let round = 0; round < 2; round++) {
  if (mode !== 'sb') await drive('naive add', (i) => queue.add('webhook', JSON.parse(body.toString())));
  if (mode !== 'naive') await drive('switchboard', (i) => route.handle({ method: 'POST', path: '/hooks/github', url: '/hooks/github', headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': sig, 'x-github-delivery': `d-${round}-${i}` }, query: {}, rawBody: body, ip: '127.0.0.1' }));
}
await bus.close(); await queue.close();
const r = new Redis(); let cursor = '0'; do { const [n, keys] = await r.scan(cursor, 'MATCH', prefix + '*', 'COUNT', 5000); cursor = n; if (keys.length) await r.del(...keys); } while (cursor !== '0'); r.disconnect();
process.exit(0);
