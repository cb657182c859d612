/**
 * For `switchboard dev`: use the configured Redis, else one on 127.0.0.1:6379, else start a private
 * redis-server from PATH on a free port, without persistence, stopped on exit.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { DEFAULT_REDIS_URL } from '../bus/redis.js';
import { SwitchboardError } from '../errors.js';

export interface RedisHandle {
  url: string;
  /** True when this process started the server. */
  embedded: boolean;
  stop(): Promise<void>;
}

export function pingRedis(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG') || d.toString().startsWith('-NOAUTH')));
  });
}

export function findOnPath(command: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts redis-server on a free loopback port without persistence; resolves once it answers. */
export async function startRedisServer(
  binary: string,
  options: { port?: number; args?: string[] } = {},
): Promise<RedisHandle & { port: number; pid: number }> {
  const port = options.port ?? (await freePort());
  const extraArgs = options.args ?? [];
  const child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', ...extraArgs], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 5000;
  while (!(await pingRedis('127.0.0.1', port, 200))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new SwitchboardError('SWB_ERR_REDIS_UNAVAILABLE', `redis-server did not start on port ${port}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    embedded: true,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function ensureRedis(
  configuredUrl: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  local: { port: number } = { port: 6379 },
): Promise<RedisHandle> {
  const url = configuredUrl ?? env.REDIS_URL;
  if (url) return { url, embedded: false, stop: async () => {} };
  if (await pingRedis('127.0.0.1', local.port)) {
    return { url: local.port === 6379 ? DEFAULT_REDIS_URL : `redis://127.0.0.1:${local.port}`, embedded: false, stop: async () => {} };
  }
  const binary = findOnPath('redis-server', env.PATH);
  if (!binary) {
    throw new SwitchboardError(
      'SWB_ERR_REDIS_UNAVAILABLE',
      `No Redis answers on 127.0.0.1:${local.port} and redis-server is not on PATH: install Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL.`,
    );
  }
  return startRedisServer(binary);
}
