/** `switchboard dev | gateway | worker | validate | dlq list | dlq replay | send` */
import { readFileSync, watch } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { parseArgs } from 'node:util';
import { Bus } from '../bus/bus.js';
import { listDeadLetters, replayDeadLetters } from '../bus/dead-letters.js';
import { resolveRedisTarget } from '../bus/redis.js';
import { ConfigError, loadConfig, type SwitchboardConfig } from '../config/load.js';
import { SwitchboardError } from '../errors.js';
import { createLogger } from '../log.js';
import { startSwitchboard } from '../switchboard.js';
import type { FastifyInstance } from 'fastify';
import { ensureRedis } from './embedded-redis.js';
import { send } from './send.js';

const USAGE = `Usage: switchboard <command> [options]

Commands:
  dev                      gateway and worker in one process (starts a private Redis when none is found)
  gateway                  HTTP gateway and inbound connectors
  worker [--functions a,b] [--health-port N]
                           runs functions and routes (all, or the ones named); /healthz and /readyz on N
  validate [FILE]          checks a config file; exit 0 when valid, 1 with the errors otherwise
  status --url URL [--token T]        a running gateway's connectors, functions and queues (admin API)
  events get ID --url URL [--token T] an event's journal
  dlq list|replay|delete [--function f] [--job ID] [--url URL --token T]
                           against the admin API with --url, else straight on Redis with the config
  dlq list [--function f] [--json]
  dlq replay [--function f] [--job ID]   runs dead letters again (all of them unless narrowed)
  send --connector NAME --file PAYLOAD [--event E] [--url URL] [--content-type T]
                           signs PAYLOAD with the connector's scheme and posts it to the gateway

Options:
  -c, --config FILE   config file (default: $SWITCHBOARD_CONFIG, then ./switchboard.yaml)
  -p, --port N        gateway port (overrides gateway.port)
  --shutdown-seconds N   on SIGTERM, how long in-flight requests and running jobs may take (default 25)
  -h, --help`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  port: { type: 'string', short: 'p' },
  functions: { type: 'string' },
  'health-port': { type: 'string' },
  'admin-port': { type: 'string' },
  token: { type: 'string' },
  'shutdown-seconds': { type: 'string' },
  function: { type: 'string' },
  job: { type: 'string' },
  json: { type: 'boolean' },
  connector: { type: 'string' },
  file: { type: 'string' },
  event: { type: 'string' },
  url: { type: 'string' },
  'content-type': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  const configPath = (command === 'validate' ? rest[0] : undefined) ?? values.config ?? process.env.SWITCHBOARD_CONFIG ?? 'switchboard.yaml';
  try {
    switch (command) {
      case 'validate':
        return await validate(configPath);
      case 'dev':
      case 'gateway':
      case 'worker':
        return await serve(command, configPath, values);
      case 'dlq':
        if (values.url) return await remote(['dlq', ...rest], values);
        return await deadLetters(rest[0], configPath, values);
      case 'status':
      case 'events':
        return await remote([command, ...rest], values);
      case 'send':
        return await sendCommand(configPath, values);
      default:
        console.error(`unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof SwitchboardError) {
      console.error(err instanceof ConfigError ? err.message : `${err.code}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

async function validate(file: string): Promise<number> {
  try {
    const config = await loadConfig(file);
    console.log(`${file}: valid (${config.connectors.length} connectors, ${config.functions.length} functions)`);
    return 0;
  } catch (err) {
    if (err instanceof SwitchboardError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }
}

async function serve(role: 'dev' | 'gateway' | 'worker', configPath: string, values: { port?: string; functions?: string; 'health-port'?: string; 'shutdown-seconds'?: string; 'admin-port'?: string }): Promise<number> {
  const graceMs = Number(values['shutdown-seconds'] ?? 25) * 1000;
  const config = await loadConfig(configPath);
  const log = createLogger({ secrets: config.secrets });
  const target = resolveRedisTarget(config.redis);
  const redis = role === 'dev' && typeof target === 'string' && !config.redis.url && !process.env.REDIS_URL ? await ensureRedis(undefined) : { url: target, embedded: false, stop: async () => {} };
  if (redis.embedded) log.info({ redis: redis.url }, 'started a private redis-server without persistence for this dev session');
  const functions = values.functions?.split(',').map((s) => s.trim()).filter(Boolean);
  let switchboard;
  try {
    switchboard = await startSwitchboard({
      config,
      log,
      redisUrl: redis.url,
      gateway: role !== 'worker',
      worker: role === 'worker' && functions ? { functions } : role !== 'gateway',
      listen: values.port ? { port: Number(values.port) } : {},
    });
  } catch (err) {
    await redis.stop();
    throw err;
  }
  if (switchboard.url) {
    log.info({ url: switchboard.url, connectors: config.connectors.map((c) => c.name), functions: config.functions.map((f) => f.name) }, `switchboard ${role} listening on ${switchboard.url}`);
  } else {
    log.info({ functions: functions ?? config.functions.map((f) => f.name) }, `switchboard ${role} running`);
  }
  const stopWatching = watchConfig(configPath, log, (next) => switchboard.reload(next));
  let admin: FastifyInstance | undefined;
  if (role !== 'worker' && config.admin.enabled) {
    // The admin API (and its dashboard libraries) loads only where it is enabled.
    const { buildAdmin } = await import('../ops/admin.js');
    admin = await buildAdmin({ switchboard, log, auth: config.admin.auth, token: config.admin.token, reload: async () => switchboard.reload(await loadConfig(configPath)) });
    await admin.listen({ host: config.admin.host, port: values['admin-port'] ? Number(values['admin-port']) : config.admin.port });
    const address = admin.server.address();
    if (address && typeof address === 'object') {
      const base = `http://${config.admin.host}:${address.port}/admin`;
      log.info({ url: base }, `admin API on ${base}${config.admin.auth === 'none' ? ' (no auth: local development only)' : ''}`);
      log.info({ url: `${base}/ui` }, `dashboard on ${base}/ui${config.admin.auth === 'none' ? '' : '#token=<admin token>'}`);
    }
  }
  let draining = false;
  const health = values['health-port'] ? await startHealthServer(Number(values['health-port']), async () => !draining && (await switchboard.bus.ping()), () => switchboard.renderMetrics()) : undefined;
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal, graceMs }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  draining = true;
  stopWatching();
  await admin?.close();
  await switchboard.close(graceMs);
  health?.close();
  await redis.stop();
  log.info('stopped');
  return 0;
}

/**
 * Live reload: on SIGHUP, or when the config file changes (a ConfigMap update swaps a symlink in its
 * folder), the file is validated and applied; an invalid file leaves the running config in force.
 */
function watchConfig(configPath: string, log: Logger, apply: (config: SwitchboardConfig) => Promise<unknown>): () => void {
  let lastText = readFileSync(configPath, 'utf8');
  let queue = Promise.resolve();
  const reload = (reason: string, force: boolean) => {
    queue = queue.then(async () => {
      let text: string;
      try {
        text = readFileSync(configPath, 'utf8');
      } catch (err) {
        return void log.error({ reason, err: (err as Error).message }, 'config not reloaded: the file cannot be read; the running config stays in force');
      }
      if (!force && text === lastText) return;
      lastText = text;
      try {
        await apply(await loadConfig(configPath));
      } catch (err) {
        log.error({ reason, err: (err as Error).message }, 'config not reloaded; the running config stays in force');
      }
    });
  };
  const onHup = () => reload('SIGHUP', true);
  process.on('SIGHUP', onHup);
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(path.dirname(path.resolve(configPath)), () => {
    clearTimeout(timer);
    timer = setTimeout(() => reload('file changed', false), 200);
  });
  return () => {
    process.off('SIGHUP', onHup);
    clearTimeout(timer);
    watcher.close();
  };
}

/** For worker pods: liveness and readiness without the gateway. */
function startHealthServer(port: number, isReady: () => Promise<boolean>, metrics: () => Promise<{ contentType: string; body: string }>): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.url === '/metrics') return void metrics().then(({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body));
    if (req.url === '/healthz') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    if (req.url === '/readyz') {
      return void isReady().then((ready) => res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ready ? 'ready' : 'not ready' })));
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve) => server.listen(port, () => resolve(server)));
}

async function deadLetters(sub: string | undefined, configPath: string, values: { function?: string; job?: string; json?: boolean }): Promise<number> {
  if (sub !== 'list' && sub !== 'replay') {
    console.error('usage: switchboard dlq list|replay [--function NAME] [--job ID]');
    return 2;
  }
  const config = await loadConfig(configPath);
  const bus = openBus(config);
  try {
    await bus.waitUntilReady(5000);
    const names = config.functions.map((f) => f.name);
    const filter = { ...(values.function ? { functions: [values.function] } : {}), ...(values.job ? { jobId: values.job } : {}) };
    if (values.job && !values.function) {
      console.error('--job needs --function (job ids are per function)');
      return 2;
    }
    const letters = sub === 'list' ? await listDeadLetters(bus, names, filter) : await replayDeadLetters(bus, names, filter);
    if (values.json) {
      console.log(JSON.stringify(letters, null, 2));
    } else if (sub === 'list') {
      if (letters.length === 0) console.log('no dead letters');
      for (const l of letters) {
        console.log(`${l.function}\t${l.jobId}\t${l.event.type}\t${l.event.id}\t${l.attempts} attempts\t${l.failedAt ?? ''}\t${l.error}`);
      }
    } else {
      console.log(`replayed ${letters.length} dead letter(s)${letters.length ? ': ' + letters.map((l) => `${l.function}/${l.jobId}`).join(', ') : ''}`);
    }
    return 0;
  } finally {
    await bus.close();
  }
}

/** The CLI over the admin API of a running gateway. */
async function remote(args: string[], values: { url?: string; token?: string; function?: string; job?: string; json?: boolean }): Promise<number> {
  if (!values.url) {
    console.error(`${args[0]} needs --url (the admin API, e.g. http://127.0.0.1:9090)`);
    return 2;
  }
  const base = values.url.replace(/\/+$/, '');
  const token = values.token ?? process.env.SWITCHBOARD_ADMIN_TOKEN;
  const call = async (method: string, path: string, body?: object) => {
    const res = await fetch(base + path, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const answer = (await res.json()) as unknown;
    if (!res.ok) throw new SwitchboardError('SWB_ERR_HTTP_REQUEST', `${method} ${path}: ${res.status} ${JSON.stringify(answer)}`);
    return answer;
  };
  const [command, sub, arg] = args;
  let answer: unknown;
  if (command === 'status') {
    answer = { status: await call('GET', '/admin/status'), connectors: await call('GET', '/admin/connectors'), functions: await call('GET', '/admin/functions') };
  } else if (command === 'events' && sub === 'get' && arg) {
    answer = await call('GET', `/admin/events/${encodeURIComponent(arg)}`);
  } else if (command === 'dlq' && sub === 'list') {
    answer = await call('GET', `/admin/dead-letters${values.function ? `?function=${encodeURIComponent(values.function)}` : ''}`);
  } else if (command === 'dlq' && sub === 'replay') {
    answer = await call('POST', '/admin/dead-letters/replay', { ...(values.function ? { function: values.function } : {}), ...(values.job ? { jobId: values.job } : {}) });
  } else if (command === 'dlq' && sub === 'delete' && values.function && values.job) {
    answer = await call('DELETE', `/admin/dead-letters/${encodeURIComponent(values.function)}/${encodeURIComponent(values.job)}`);
  } else {
    console.error('usage: switchboard status | events get ID | dlq list|replay|delete --url URL [--token T] [--function F] [--job ID]');
    return 2;
  }
  console.log(JSON.stringify(answer, null, 2));
  return 0;
}

async function sendCommand(configPath: string, values: { connector?: string; file?: string; event?: string; url?: string; 'content-type'?: string }): Promise<number> {
  if (!values.connector || !values.file) {
    console.error('usage: switchboard send --connector NAME --file PAYLOAD [--event E] [--url URL] [--content-type T]');
    return 2;
  }
  const config = await loadConfig(configPath);
  const result = await send(config, {
    connector: values.connector,
    file: values.file,
    ...(values.url ? { url: values.url } : {}),
    ...(values.event ? { event: values.event } : {}),
    ...(values['content-type'] ? { contentType: values['content-type'] } : {}),
  });
  console.log(`${result.status} ${result.body}`);
  return result.status < 300 ? 0 : 1;
}

function openBus(config: SwitchboardConfig): Bus {
  return new Bus({
    redis: resolveRedisTarget(config.redis),
    prefix: config.redis.prefix,
    functions: config.functions,
    dedupWindowMs: config.bus.dedupWindowMs,
    enqueueTimeoutMs: config.bus.enqueueTimeoutMs,
    highWaterMark: config.bus.highWaterMark,
    log: createLogger({ level: 'warn', secrets: config.secrets }),
  });
}
