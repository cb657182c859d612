/**
 * Ingest benchmark: signed GitHub webhooks against Switchboard's gateway and, in the same run and on
 * the same Redis, against the hand-written baseline (one `queue.add` per request). Runs alternate
 * A/B so drift hits both; prints medians, min–max and the ratio, and checks that every 2xx reached Redis.
 *
 *   npm run bench -- [--seconds 5] [--rounds 3] [--connections 50]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, connections: { type: 'string', default: '50' } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECRET = 'bench-secret-' + randomBytes(8).toString('hex');
const body = JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'octo/hello' }, pusher: { name: 'octocat' }, commits: [{ id: 'a1b2c3', message: 'Fix' }] });
const headers = {
  'content-type': 'application/json',
  'x-github-event': 'push',
  'x-hub-signature-256': 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex'),
};

interface Target { name: string; script: string; prefix: string; queueKey?: string; env?: Record<string, string> }
const run = randomBytes(3).toString('hex');
const targets: Target[] = [
  { name: 'ceiling', script: 'servers/ceiling.ts', prefix: `bench-ceiling-${run}` },
  { name: 'naive', script: 'servers/naive.ts', prefix: `bench-naive-${run}`, queueKey: `bench-naive-${run}:naive` },
  { name: 'switchboard', script: 'servers/gateway.ts', prefix: `bench-gw-${run}`, queueKey: `bench-gw-${run}:fn.noop` },
  { name: 'switchboard-1000', script: 'servers/gateway.ts', prefix: `bench-gwk-${run}`, queueKey: `bench-gwk-${run}:fn.noop`, env: { SCALE: '1000' } },
];

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return kb / 1024;
}

/** CPU seconds used so far by a process (user + system), from /proc. */
function processCpu(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
}

async function redisCpu(): Promise<number> {
  const info = await redis.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return get('used_cpu_user') + get('used_cpu_sys');
}

async function startServer(target: Target): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, target.script)], {
    env: { ...process.env, PREFIX: target.prefix, REDIS_URL, BENCH_SECRET: SECRET, PORT: '0', ...target.env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${target.name} exited with ${code}`)));
  });
  return { child, port };
}

let delivery = 0;
async function load(port: number, duration: number, overallRate?: number) {
  const result = await autocannon({
    ...(overallRate ? { overallRate } : {}),
    url: `http://127.0.0.1:${port}/hooks/github`,
    method: 'POST',
    headers,
    body,
    connections,
    duration,
    // Every request is a distinct delivery, as from a real sender (the same delivery twice is deduplicated).
    requests: [{ setupRequest: (req: { headers: Record<string, string> }) => ({ ...req, headers: { ...req.headers, 'x-github-delivery': `d-${run}-${++delivery}` } }) }],
  } as autocannon.Options);
  return { rps: result.requests.average, ok: result['2xx'], non2xx: result.non2xx + result.errors + result.timeouts, p50: result.latency.p50, p99: result.latency.p99 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const redis = new Redis(REDIS_URL);
const info = await redis.info('server');
const redisVersion = /redis_version:(\S+)/.exec(info)?.[1];
const { default: bullPkg } = await import('bullmq/package.json', { with: { type: 'json' } }).catch(() => ({ default: { version: 'unknown' } }));
console.log(`node ${process.version}, bullmq ${(bullPkg as { version: string }).version}, redis ${redisVersion}, ${os.cpus().length} cores; ${rounds} rounds × ${seconds}s, ${connections} connections`);

const results: Record<string, { rps: number[]; p99: number[]; cpuPerEvent: number[]; ok: number; failed: number }> = {};
const servers = new Map<string, Awaited<ReturnType<typeof startServer>>>();
try {
  const idleRss: Record<string, number> = {};
  for (const t of targets) {
    servers.set(t.name, await startServer(t));
    await new Promise((r) => setTimeout(r, 500));
    idleRss[t.name] = rssMiB(servers.get(t.name)!.child.pid!);
    results[t.name] = { rps: [], p99: [], cpuPerEvent: [], ok: 0, failed: 0 };
    await load(servers.get(t.name)!.port, 1); // warm-up
  }
  for (let round = 0; round < rounds; round++) {
    for (const t of round % 2 === 0 ? targets : [...targets].reverse()) {
      const server = servers.get(t.name)!;
      const cpuBefore = processCpu(server.child.pid!) + (await redisCpu());
      const r = await load(server.port, seconds);
      const cpu = processCpu(server.child.pid!) + (await redisCpu()) - cpuBefore;
      results[t.name]!.cpuPerEvent.push((cpu / Math.max(1, r.ok)) * 1e6);
      results[t.name]!.rps.push(r.rps);
      results[t.name]!.p99.push(r.p99);
      results[t.name]!.ok += r.ok;
      results[t.name]!.failed += r.non2xx;
      console.log(`round ${round + 1} ${t.name.padEnd(12)} ${r.rps.toFixed(0).padStart(7)} req/s  p99 ${r.p99} ms  cpu ${((cpu / Math.max(1, r.ok)) * 1e6).toFixed(1)} µs/event  non-2xx ${r.non2xx}`);
    }
  }
  // Steady low load: batching must not make a lone request wait.
  const steady: Record<string, { p50: number[]; p99: number[] }> = {};
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 === 0 ? ['naive', 'switchboard'] : ['switchboard', 'naive']) {
      const r = await load(servers.get(name)!.port, seconds, 1000);
      results[name]!.ok += r.ok;
      steady[name] ??= { p50: [], p99: [] };
      steady[name]!.p50.push(r.p50);
      steady[name]!.p99.push(r.p99);
      console.log(`steady 1000/s ${name.padEnd(12)} p50 ${r.p50} ms  p99 ${r.p99} ms  non-2xx ${r.non2xx}`);
    }
  }
  // Nothing lost: every 2xx (warm-up included) is a job in Redis.
  let lost = false;
  for (const t of targets) {
    if (!t.queueKey) continue;
    const stored = await redis.zcard(`${t.queueKey}:wait`).catch(() => 0) + (await redis.llen(`${t.queueKey}:wait`).catch(() => 0));
    const r = results[t.name]!;
    console.log(`${t.name}: ${r.ok} accepted in measured rounds, ${stored} jobs in Redis (warm-up included)`);
    if (stored < r.ok) lost = true;
  }
  const base = median(results.naive!.rps);
  const ours = median(results.switchboard!.rps);
  console.log('');
  console.log('| target | median req/s | min–max | median p99 ms | CPU µs per event (server + Redis) |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const t of targets) {
    const r = results[t.name]!;
    console.log(`| ${t.name} | ${median(r.rps).toFixed(0)} | ${Math.min(...r.rps).toFixed(0)}–${Math.max(...r.rps).toFixed(0)} | ${median(r.p99)} | ${median(r.cpuPerEvent).toFixed(1)} |`);
  }
  console.log(`\nratio switchboard / naive: throughput ${(ours / base).toFixed(2)}, CPU per event ${(median(results.switchboard!.cpuPerEvent) / median(results.naive!.cpuPerEvent)).toFixed(2)}`);
  console.log(`1,000 connectors and functions against 1 of each: throughput ${(median(results['switchboard-1000']!.rps) / ours).toFixed(2)}`);
  console.log(`steady 1,000 req/s, median over rounds: naive p50 ${median(steady.naive!.p50)} ms p99 ${median(steady.naive!.p99)} ms; switchboard p50 ${median(steady.switchboard!.p50)} ms p99 ${median(steady.switchboard!.p99)} ms`);
  console.log(`idle RSS MiB: ${Object.entries(idleRss).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}`);
  if (lost) {
    console.error('FAIL: some accepted events are not in Redis');
    process.exitCode = 1;
  }
} finally {
  for (const s of servers.values()) s.child.kill('SIGTERM');
  for (const t of targets) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${t.prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  }
  redis.disconnect();
}
