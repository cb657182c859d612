/** Shared test helpers: real Redis with a unique prefix per test, a recording HTTP peer, waiting without fixed sleeps. */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { dedupSetKey } from '../../src/bus/enqueue.js';
import { parseConfig, type FunctionConfig, type SwitchboardConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { startSwitchboard, type Switchboard, type SwitchboardOptions } from '../../src/switchboard.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');

export function uniquePrefix(label: string): string {
  return `swbtest-${label}-${randomBytes(4).toString('hex')}`;
}

export async function deleteKeys(prefix: string, url = REDIS_URL): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** The dedup sets a publish between `before` and `after` (ms) may write: the quarters of the window those times fall in, each once. */
export function dedupSetsBetween(queueKey: string, windowMs: number, before: number, after: number): string[] {
  return [...new Set([before, after].map((at) => dedupSetKey(queueKey, windowMs, at)))];
}

/** The dedup sets that hold a job id published between `before` and `after` (ms). */
export async function dedupHolders(redis: Redis, queueKey: string, windowMs: number, jobId: string, before: number, after: number): Promise<string[]> {
  const holders: string[] = [];
  for (const key of dedupSetsBetween(queueKey, windowMs, before, after)) if (await redis.sismember(key, jobId)) holders.push(key);
  return holders;
}

export async function waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: any;
  /** Date.now() when it arrived. */
  at: number;
}

export interface Recorder {
  url: string;
  requests: RecordedRequest[];
  /** Decides each answer; defaults to 200 {"ok":true}. */
  respond: (request: RecordedRequest) => { status: number; body?: unknown; headers?: Record<string, string> };
  close(): Promise<void>;
}

/** A local HTTP peer that records every request it gets. */
export async function startRecorder(): Promise<Recorder> {
  const recorder: Recorder = {
    url: '',
    requests: [],
    respond: () => ({ status: 200, body: { ok: true } }),
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = body ? JSON.parse(body) : undefined;
      } catch {
        json = undefined;
      }
      const recorded = { method: req.method!, url: req.url!, headers: req.headers, body, json, at: Date.now() };
      recorder.requests.push(recorded);
      const answer = recorder.respond(recorded);
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  recorder.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  recorder.close = () => new Promise((resolve) => server.close(() => resolve()));
  return recorder;
}

/** A logger whose lines are kept for assertions. */
export function captureLogs(secrets: readonly string[] = []) {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', secrets, write: (line) => void lines.push(line) });
  return { log, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, any>) };
}

/** Jest loads TypeScript through its own transform; tsx's loader hooks are not allowed inside it. */
export const jestImporter = (url: string) => import(url);

export interface TestSwitchboard {
  sb: Switchboard;
  config: SwitchboardConfig;
  prefix: string;
  logs: ReturnType<typeof captureLogs>;
  close(): Promise<void>;
}

/** Parses YAML as if it were test/fixtures/<name>.yaml (so `module:` paths resolve to fixtures) and starts it. */
export async function bootSwitchboard(
  yaml: string,
  options: Partial<Omit<SwitchboardOptions, 'config'>> & { env?: NodeJS.ProcessEnv; prefix?: string } = {},
): Promise<TestSwitchboard> {
  const config = await parseConfig(yaml, path.join(FIXTURES, 'test.yaml'), { env: { ...process.env, ...options.env } });
  const prefix = options.prefix ?? uniquePrefix('sb');
  config.redis.prefix = prefix;
  const logs = captureLogs(config.secrets);
  const sb = await startSwitchboard({
    gateway: true,
    worker: true,
    listen: { host: '127.0.0.1', port: 0 },
    redisUrl: REDIS_URL,
    log: logs.log,
    importModule: jestImporter,
    ...options,
    config,
  });
  return {
    sb,
    config,
    prefix,
    logs,
    async close() {
      await sb.close();
      if (!options.prefix) await deleteKeys(prefix);
    },
  };
}

/** A function as the config loader gives it, for tests that build a Bus directly: a no-op Node module on queue `fn.<name>`. */
export function functionConfig(name: string, extra: Partial<FunctionConfig> = {}): FunctionConfig {
  return {
    name,
    signature: name,
    queue: `fn.${name}`,
    runtime: { kind: 'node', module: '/dev/null', isolated: false, memoryLimitMb: 128 },
    trigger: { type: 'com.example.load' } as never,
    attempts: 2,
    backoff: { type: 'fixed', delay: 10 },
    timeoutMs: 1000,
    concurrency: 1,
    ...extra,
  };
}
