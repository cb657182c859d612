/** What the benchmarks share: target processes, CPU and memory readings, the load generator, statistics. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { Redis } from 'ioredis';
import { deleteKeys } from '../test/helpers/index.js';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const SECRET = 'bench-secret-' + randomBytes(8).toString('hex');
export const RUN = randomBytes(3).toString('hex');

const PUSH = { ref: 'refs/heads/main', repository: { full_name: 'octo/hello' }, pusher: { name: 'octocat' }, commits: [{ id: 'a1b2c3', message: 'Fix' }] };
let delivery = 0;
/** The sequence number the next delivery's id ends in: a latency round's first (bench/servers/delivery-times.mjs). */
export const nextDelivery = () => delivery + 1;
/**
 * One signed GitHub push delivery with its own delivery id (the same id twice is deduplicated).
 * With `sentAt`, the send time goes into the body (end-to-end latency), which means signing each one.
 */
function signedDelivery(sentAt?: number): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(sentAt === undefined ? PUSH : { ...PUSH, sent: sentAt });
  const signature = 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex');
  return { body, headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': `d-${RUN}-${++delivery}`, 'x-hub-signature-256': signature } };
}

export interface Target {
  name: string;
  /** A file under bench/servers/. */
  script: string;
  /** Redis key prefix of the target's data, deleted afterwards. */
  prefix: string;
  /** Where its jobs wait (the no-loss check counts them). */
  queueKey?: string;
  env?: Record<string, string>;
}

export interface Server {
  target: Target;
  child: ChildProcess;
  port: number;
  /** Sends an IPC message and waits for the answer. */
  ask<T>(message: unknown): Promise<T>;
}

/** The targets running, and every key prefix one was started with: what an interrupted run stops and deletes. */
const running = new Set<Server>();
const usedPrefixes = new Set<string>();

/**
 * Starts a target; BENCH_NODE_FLAGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) go to its node. Pinned
 * runs put it on the targets' core, or with `onGeneratorCore` on the load generator's (a target that
 * idles while the others are measured).
 */
export async function startServer(target: Target, { onGeneratorCore = false } = {}): Promise<Server> {
  usedPrefixes.add(target.prefix);
  const node = [process.execPath, ...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []), path.join(here, 'servers', target.script)];
  const core = onGeneratorCore ? generatorCore : targetsCore;
  const command = core === undefined ? node : ['taskset', '-c', String(core), ...node];
  const child = spawn(command[0]!, command.slice(1), {
    env: { ...process.env, PREFIX: target.prefix, REDIS_URL, BENCH_SECRET: SECRET, PORT: '0', ...target.env },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
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
  const ask = <T>(message: unknown) =>
    new Promise<T>((resolve, reject) => {
      child.once('message', (answer) => ((answer as { error?: string }).error ? reject(new Error((answer as { error: string }).error)) : resolve(answer as T)));
      child.send(message as never);
    });
  const server = { target, child, port, ask };
  running.add(server);
  child.once('exit', () => running.delete(server));
  return server;
}

/**
 * An interrupted run (Ctrl-C, a timeout's SIGTERM) gives Redis its cores back, stops its targets and
 * deletes their keys before it exits, as a finished run does. A second signal exits at once.
 */
export function cleanUpOnInterrupt(): void {
  const cleanUp = (signal: NodeJS.Signals) => {
    void pinning.stop();
    void (async () => {
      await Promise.all([...running].map(stopServer));
      for (const prefix of usedPrefixes) await deleteKeys(prefix);
    })().finally(() => process.exit(128 + os.constants.signals[signal]));
  };
  process.once('SIGINT', cleanUp).once('SIGTERM', cleanUp);
}

/** With `--pin`: the core targets (and a local Redis) run on; the bench itself runs on another. */
let targetsCore: number | undefined;
let generatorCore: number | undefined;
let redisAffinity: { pid: number; cpus: string } | undefined;

const affinityOf = (pid: number) => /list: (\S+)/.exec(execFileSync('taskset', ['-pc', String(pid)], { encoding: 'utf8' }))?.[1] ?? '';

export const pinning = {
  async start(): Promise<{ generator: number; targets: number }> {
    if (os.cpus().length < 2) throw new Error('--pin needs at least 2 cores');
    generatorCore = 0;
    targetsCore = 1;
    execFileSync('taskset', ['-pc', String(generatorCore), String(process.pid)]);
    const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
    try {
      // Only a Redis on this machine, and only if we may: restored when the suite ends.
      if (/^redis:\/\/(127\.0\.0\.1|localhost)[:/]/.test(REDIS_URL) && pid) {
        redisAffinity = { pid, cpus: affinityOf(pid) };
        execFileSync('taskset', ['-pc', String(targetsCore), String(pid)]);
      }
    } catch {
      redisAffinity = undefined;
    }
    return { generator: generatorCore, targets: targetsCore };
  },
  async stop(): Promise<void> {
    if (redisAffinity) execFileSync('taskset', ['-pc', redisAffinity.cpus, String(redisAffinity.pid)]);
    redisAffinity = undefined;
  },
};

export async function stopServer(server: Server): Promise<void> {
  const exited = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  server.child.kill('SIGKILL');
}

export function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

/** CPU seconds a process used so far (user + system), from /proc (clock ticks at 100 Hz). */
export function processCpu(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export const redis = new Redis(REDIS_URL);

export async function redisCpu(): Promise<number> {
  const info = await redis.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return get('used_cpu_user') + get('used_cpu_sys');
}

export async function redisMemory(): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);
}

/** Deletes a target's keys after the run. */
export { deleteKeys as deletePrefix };

export interface LoadResult {
  rps: number;
  ok: number;
  non2xx: number;
  /** Request latency as autocannon measures it, in ms. */
  p50: number;
  p99: number;
}

/** Signed deliveries at saturation (or autocannon's overallRate); `stamp` puts the send time in each body. */
export async function load(port: number, options: { seconds: number; connections: number; rate?: number; stamp?: boolean }): Promise<LoadResult> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/hooks/github`,
    method: 'POST',
    connections: options.connections,
    duration: options.seconds,
    ...(options.rate ? { overallRate: options.rate } : {}),
    requests: [
      {
        setupRequest: (req: Record<string, unknown>) => ({ ...req, ...signedDelivery(options.stamp ? performance.timeOrigin + performance.now() : undefined) }),
      },
    ],
  } as unknown as autocannon.Options);
  return { rps: result.requests.average, ok: result['2xx'], non2xx: result.non2xx + result.errors + result.timeouts, p50: result.latency.p50, p99: result.latency.p99 };
}

/**
 * An open-loop load at a fixed rate: requests go out on a 1 ms tick whatever the answers do, so
 * nothing bunches up (autocannon's overallRate sends each second's budget in a burst). Latency is
 * measured per request with sub-millisecond precision.
 */
export async function pacedLoad(port: number, options: { seconds: number; rate: number; connections?: number; stamp?: boolean }): Promise<LoadResult & { latencies: number[] }> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: options.connections ?? 16 });
  const latencies: number[] = [];
  let ok = 0;
  let non2xx = 0;
  const inFlight = new Set<Promise<void>>();
  const send = () => {
    const sentAt = performance.timeOrigin + performance.now();
    const { body, headers } = signedDelivery(options.stamp ? sentAt : undefined);
    const p = pool
      .request({ path: '/hooks/github', method: 'POST', headers, body })
      .then(async (res) => {
        await res.body.dump();
        latencies.push(performance.timeOrigin + performance.now() - sentAt);
        if (res.statusCode >= 200 && res.statusCode < 300) ok++;
        else non2xx++;
      }, () => void non2xx++)
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  const total = Math.round(options.rate * options.seconds);
  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * options.rate));
    for (; sent < due; sent++) send();
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inFlight);
  await pool.close();
  return { rps: ok / options.seconds, ok, non2xx, p50: percentile(latencies, 50), p99: percentile(latencies, 99), latencies };
}

/**
 * Each round's figure against the baseline's in the same round. This machine's speed drifts by up to 2×
 * within a minute (a bare drain measured 9,823 and 5,128 jobs/s 20 s apart), far more than between
 * neighbouring runs, so ratios are taken per round and then their median, not as a ratio of medians.
 */
export const pairedRatios = (xs: number[], baseline: number[]) => xs.map((x, i) => x / baseline[i]!);

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
export const range = (xs: number[], digits = 0) => `${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)}`;

/** Rounds alternate the order of the targets, so drift on a shared machine hits them all alike. */
export function alternate<T>(items: T[], round: number): T[] {
  return round % 2 === 0 ? items : [...items].reverse();
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
