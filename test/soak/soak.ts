/**
 * The crash soak: signed webhooks at a steady rate into a gateway with two worker processes, while
 * workers are SIGKILLed and restarted every few seconds, the gateway is SIGKILLed and restarted once,
 * and the (AOF) Redis is restarted once. Reports sent, accepted, processed, lost (accepted, never
 * processed), duplicates and the time to drain after the last fault. Lost must be 0.
 *
 *   npm run soak                                # the published profile: 10,000 webhooks at 200/s
 *   SOAK_EVENTS=2000 SOAK_RATE=100 npm run soak # shorter
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { findOnPath, freePort, startRedisServer } from '../../src/cli/embedded-redis.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/switchboard.js');

export interface SoakOptions {
  events: number;
  rate: number;
  workerKillEveryMs: number;
  drainTimeoutMs: number;
  log?: (line: string) => void;
}

export interface SoakReport {
  sent: number;
  accepted: number;
  refused: number;
  processed: number;
  lost: number;
  duplicates: number;
  faults: string[];
  drainMs: number;
}

const SECRET = 'soak-signing-secret';

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const binary = findOnPath('redis-server');
  if (!binary) throw new Error('the soak needs redis-server on PATH');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'swb-soak-'));
  const aof = ['--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', dir];
  let redis = await startRedisServer(binary, { args: aof });
  const port = await freePort();
  const key = `soak-${Date.now()}`;
  const config = path.join(dir, 'switchboard.yaml');
  writeFileSync(
    config,
    `redis: { prefix: soak }
admin: { enabled: false }
bus: { lockDuration: 3s, enqueueTimeout: 1s }
gateway: { port: ${port} }
connectors:
  - name: hooks
    type: webhook
    config:
      secret: \${env:SOAK_SECRET}
      verify: { scheme: github }
      event: { type: com.example.soak, id: "{headers.x-delivery}" }
functions:
  - name: record
    runtime: node
    module: ${path.join(ROOT, 'test/fixtures/functions/soak-record.js')}
    trigger: { type: com.example.soak }
    concurrency: 20
    retry: { attempts: 10, backoff: { type: fixed, delay: 200ms } }
`,
  );
  const env = { ...process.env, REDIS_URL: redis.url, SOAK_REDIS_URL: redis.url, SOAK_KEY: key, SOAK_SECRET: SECRET, LOG_LEVEL: 'warn' };
  const start = (role: 'gateway' | 'worker'): ChildProcess => spawn(process.execPath, [BIN, role, '--config', config, '--shutdown-seconds', '5'], { env, stdio: 'ignore' });
  const faults: string[] = [];
  let gateway = start('gateway');
  const workers = [start('worker'), start('worker')];
  const url = `http://127.0.0.1:${port}/hooks/hooks`;
  const waitReady = async () => {
    for (let i = 0; i < 200; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) return;
      } catch {
        // starting
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the gateway did not become ready');
  };
  await waitReady();

  const accepted = new Set<string>();
  let refused = 0;
  let sent = 0;
  const send = async (i: number) => {
    const body = JSON.stringify({ i, padding: 'x'.repeat(200) });
    const id = `${key}-${i}`;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-delivery': id, 'x-hub-signature-256': 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex') },
        body,
        signal: AbortSignal.timeout(5000),
      });
      if (res.status === 202) accepted.add(id);
      else refused++;
    } catch {
      refused++;
    }
  };

  const durationMs = (options.events / options.rate) * 1000;
  const started = Date.now();
  const inflight = new Set<Promise<void>>();
  let nextWorkerKill = started + options.workerKillEveryMs;
  let workerKills = 0;
  let gatewayKilled = false;
  let redisRestarted = false;
  while (sent < options.events) {
    const due = Math.min(options.events, Math.floor(((Date.now() - started) / 1000) * options.rate));
    while (sent < due) {
      const p = send(sent++).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    const now = Date.now();
    if (now >= nextWorkerKill) {
      const k = workerKills++ % 2;
      workers[k]!.kill('SIGKILL');
      workers[k] = start('worker');
      faults.push(`worker ${k} SIGKILLed at ${((now - started) / 1000).toFixed(1)}s`);
      nextWorkerKill = now + options.workerKillEveryMs;
    }
    if (!gatewayKilled && now - started > durationMs / 3) {
      gatewayKilled = true;
      gateway.kill('SIGKILL');
      gateway = start('gateway');
      faults.push(`gateway SIGKILLed at ${((now - started) / 1000).toFixed(1)}s`);
    }
    if (!redisRestarted && now - started > (2 * durationMs) / 3) {
      redisRestarted = true;
      const redisPort = redis.port;
      await redis.stop();
      redis = await startRedisServer(binary, { port: redisPort, args: aof });
      faults.push(`redis restarted at ${((Date.now() - started) / 1000).toFixed(1)}s`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await Promise.all(inflight);
  const lastFault = Date.now();
  log(`sent ${sent}, accepted ${accepted.size}, refused ${refused}; draining`);

  const client = new Redis(redis.url);
  let runs: Record<string, string> = {};
  const deadline = Date.now() + options.drainTimeoutMs;
  for (;;) {
    runs = await client.hgetall(`${key}:runs`);
    if ([...accepted].every((id) => runs[id]) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const drainMs = Date.now() - lastFault;
  client.disconnect();
  for (const child of [gateway, ...workers]) child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  for (const child of [gateway, ...workers]) child.kill('SIGKILL');
  await redis.stop();

  const processed = [...accepted].filter((id) => runs[id]).length;
  const report: SoakReport = {
    sent,
    accepted: accepted.size,
    refused,
    processed,
    lost: accepted.size - processed,
    duplicates: Object.values(runs).reduce((n, v) => n + Number(v) - 1, 0),
    faults,
    drainMs,
  };
  return report;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const report = await runSoak({
    events: Number(process.env.SOAK_EVENTS ?? 10_000),
    rate: Number(process.env.SOAK_RATE ?? 200),
    workerKillEveryMs: Number(process.env.SOAK_KILL_EVERY_MS ?? 5000),
    drainTimeoutMs: Number(process.env.SOAK_DRAIN_TIMEOUT_MS ?? 120_000),
  });
  console.log(JSON.stringify(report, null, 2));
  process.exitCode = report.lost === 0 ? 0 : 1;
}
