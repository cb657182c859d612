/**
 * The composition root: builds the bus, the gateway with its inbound connectors, and the workers
 * with their outbound connectors, for whichever roles this process plays.
 */
import type { Logger } from 'pino';
import { Bus } from './bus/bus.js';
import { resolveRedisUrl } from './bus/redis.js';
import type { SwitchboardConfig } from './config/load.js';
import { buildGateway, type Gateway } from './gateway/app.js';
import { createLogger } from './log.js';
import type { InboundConnector, OutboundConnector } from './registry/contract.js';
import type { ModuleImporter } from './worker/runtimes/node.js';
import { FunctionWorkers } from './worker/worker.js';

export interface SwitchboardOptions {
  config: SwitchboardConfig;
  /** Run the HTTP gateway and the inbound connectors. */
  gateway?: boolean;
  /** Run functions; `functions` limits this process to some of them. */
  worker?: boolean | { functions?: string[] };
  /** Overrides redis.url and $REDIS_URL. */
  redisUrl?: string;
  log?: Logger;
  /** Where the gateway listens; false builds it without listening (tests use inject). */
  listen?: { host?: string; port?: number } | false;
  /** How function modules are imported; the default compiles TypeScript with tsx. */
  importModule?: ModuleImporter;
  /** How long startup waits for Redis before failing. */
  startupTimeoutMs?: number;
}

export interface Switchboard {
  bus: Bus;
  gateway?: Gateway;
  /** Base URL of the listening gateway. */
  url?: string;
  log: Logger;
  close(): Promise<void>;
}

export async function startSwitchboard(options: SwitchboardOptions): Promise<Switchboard> {
  const { config } = options;
  const redisUrl = options.redisUrl ?? resolveRedisUrl(config.redis.url);
  const log = options.log ?? createLogger({ secrets: config.secrets });
  const bus = new Bus({
    redisUrl,
    prefix: config.redis.prefix,
    functions: config.functions,
    dedupWindowMs: config.bus.dedupWindowMs,
    enqueueTimeoutMs: config.bus.enqueueTimeoutMs,
    highWaterMark: config.bus.highWaterMark,
    log,
  });
  const inbound: { name: string; connector: InboundConnector; abort: AbortController }[] = [];
  const outbound: { name: string; connector: OutboundConnector; abort: AbortController }[] = [];
  let workers: FunctionWorkers | undefined;
  let gateway: Gateway | undefined;
  let started = false;

  const close = async () => {
    if (gateway) {
      gateway.draining = true;
      await gateway.app.close();
    }
    for (const c of inbound) c.abort.abort();
    await Promise.allSettled(inbound.map((c) => c.connector.close()));
    await workers?.close();
    for (const c of outbound) c.abort.abort();
    await Promise.allSettled(outbound.map((c) => c.connector.close()));
    await bus.close();
  };

  try {
    await bus.waitUntilReady(options.startupTimeoutMs ?? 10_000);

    if (options.gateway) {
      gateway = buildGateway({ log, bodyLimit: config.gateway.bodyLimit, isReady: async () => started && (await bus.ping()) });
      for (const spec of config.connectors) {
        if (!spec.definition.inbound) continue;
        const abort = new AbortController();
        const ctx = { name: spec.name, config: spec.config, log: log.child({ connector: spec.name }), signal: abort.signal };
        const connector = spec.definition.inbound(ctx);
        inbound.push({ name: spec.name, connector, abort });
        await connector.start({ publish: (events, publishOptions) => bus.publish(events, publishOptions), http: gateway.router });
      }
      await gateway.app.ready();
    }

    if (options.worker) {
      const apis: Record<string, object> = {};
      for (const spec of config.connectors) {
        if (!spec.definition.outbound) continue;
        const abort = new AbortController();
        const connector = spec.definition.outbound({ name: spec.name, config: spec.config, log: log.child({ connector: spec.name }), signal: abort.signal });
        outbound.push({ name: spec.name, connector, abort });
        apis[spec.name] = connector.api;
      }
      const only = typeof options.worker === 'object' ? options.worker.functions : undefined;
      if (only) {
        const unknown = only.filter((name) => !config.functions.some((f) => f.name === name));
        if (unknown.length) throw new Error(`unknown function(s): ${unknown.join(', ')}; known: ${config.functions.map((f) => f.name).join(', ')}`);
      }
      workers = new FunctionWorkers({
        functions: only ? config.functions.filter((f) => only.includes(f.name)) : config.functions,
        bus,
        redisUrl,
        prefix: config.redis.prefix,
        connectors: apis,
        log,
        ...(options.importModule ? { importModule: options.importModule } : {}),
      });
      await workers.start();
    }

    let url: string | undefined;
    if (gateway && options.listen !== false) {
      const host = options.listen?.host ?? config.gateway.host;
      const port = options.listen?.port ?? config.gateway.port;
      await gateway.app.listen({ host, port });
      const address = gateway.app.server.address();
      const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      if (address && typeof address === 'object') url = `http://${shownHost}:${address.port}`;
    }
    started = true;
    return { bus, log, close, ...(gateway ? { gateway } : {}), ...(url ? { url } : {}) };
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
}
