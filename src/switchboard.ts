/**
 * The composition root: builds the bus, the gateway with its inbound connectors, and the workers
 * with their outbound connectors, for whichever roles this process plays.
 */
import type { Logger } from 'pino';
import { Bus } from './bus/bus.js';
import { resolveRedisTarget, type RedisTarget } from './bus/redis.js';
import type { ConnectorConfig, FunctionConfig, SwitchboardConfig } from './config/load.js';
import { buildGateway, type Gateway } from './gateway/app.js';
import { createLogger } from './log.js';
import type { InboundConnector, InboundIO, OutboundConnector } from './registry/contract.js';
import { journalLayout, type Journal } from './ops/journal.js';
import { collectStartupGarbage, tuneGc } from './ops/gc-tuning.js';
import { startIdleHeapTrim, type IdleHeapTrim, type IdleHeapTrimOptions } from './ops/idle-heap-trim.js';
import { createMetrics, type Metrics } from './ops/metrics.js';
import { activeTraceExtension, eventContext, flushTracing, initTracing, inSpan, SpanKind, tracingOn } from './ops/tracing.js';
import type { ModuleImporter } from './worker/runtimes/node.js';
import { FunctionWorkers } from './worker/worker.js';

export interface SwitchboardOptions {
  config: SwitchboardConfig;
  /** Run the HTTP gateway and the inbound connectors. */
  gateway?: boolean;
  /** Run functions; `functions` limits this process to some of them. */
  worker?: boolean | { functions?: string[] };
  /** Overrides redis.url, redis.sentinel and the environment. */
  redisUrl?: RedisTarget;
  log?: Logger;
  /** Where the gateway listens; false builds it without listening (tests use inject). */
  listen?: { host?: string; port?: number } | false;
  /** How function modules are imported; the default compiles TypeScript with tsx. */
  importModule?: ModuleImporter;
  /** How long startup waits for Redis before failing. */
  startupTimeoutMs?: number;
  /**
   * Give the heap back to the system once idle (src/ops/idle-heap-trim.ts: 10 s after start-up with no
   * traffic, a minute after traffic); on by default, off with false or SWITCHBOARD_IDLE_HEAP_TRIM=off.
   */
  idleHeapTrim?: boolean | IdleHeapTrimOptions;
  /**
   * Tune V8's collector (src/ops/gc-tuning.ts): the young generation's growth factor, with at most one
   * CPU available its helper threads off, and one full collection once start-up is done; on by default,
   * off with false or SWITCHBOARD_GC_TUNING=off.
   */
  gcTuning?: boolean;
}

export interface Switchboard {
  bus: Bus;
  journal?: Journal;
  /** The config in force (it changes on reload). */
  config(): SwitchboardConfig;
  /** Inbound connectors: pause stops one taking events (webhooks answer 404, pollers stop); resume restarts it. */
  pauseConnector(name: string): Promise<void>;
  resumeConnector(name: string): Promise<void>;
  connectorStates(): { name: string; type: string; inbound: boolean; outbound: boolean; state: 'running' | 'paused' | 'idle' }[];
  metrics: Metrics;
  /** The Prometheus text of this instance's metrics (queue gauges read now). */
  renderMetrics(): Promise<{ contentType: string; body: string }>;
  gateway?: Gateway;
  /** Base URL of the listening gateway. */
  url?: string;
  log: Logger;
  /**
   * Graceful stop: readiness fails, no new requests or jobs are taken, in-flight requests and running
   * jobs get `graceMs` to finish; jobs still running then go back to their queues.
   */
  close(graceMs?: number): Promise<void>;
  /**
   * Applies a new, already validated config without a restart: connectors, functions and routes that
   * changed are replaced, the rest keep running; in-flight requests and jobs are not dropped.
   */
  reload(config: SwitchboardConfig): Promise<ReloadReport>;
}

export interface ReloadReport {
  connectors: { added: string[]; changed: string[]; removed: string[] };
  functions: { added: string[]; changed: string[]; removed: string[] };
  /** Settings that only take effect after a restart (redis, bus, gateway). */
  needsRestart: string[];
}

const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

/** A setting that is on unless its environment variable says off, false or 0. */
const notTurnedOff = (name: string) => !['off', 'false', '0'].includes(process.env[name] ?? '');

function diff<T extends { name: string; signature: string }>(before: Map<string, T>, after: readonly T[]) {
  const next = new Map(after.map((x) => [x.name, x]));
  return {
    added: after.filter((x) => !before.has(x.name)).map((x) => x.name),
    changed: after.filter((x) => before.has(x.name) && before.get(x.name)!.signature !== x.signature).map((x) => x.name),
    removed: [...before.keys()].filter((name) => !next.has(name)),
  };
}

export async function startSwitchboard(options: SwitchboardOptions): Promise<Switchboard> {
  const { config } = options;
  const redis = options.redisUrl ?? resolveRedisTarget(config.redis);
  const log = options.log ?? createLogger({ secrets: config.secrets });
  const journalAt = config.journal.enabled ? journalLayout(config.redis.prefix, config.journal) : undefined;
  const bus = new Bus({
    redis,
    ...(journalAt ? { journal: journalAt } : {}),
    prefix: config.redis.prefix,
    functions: config.functions,
    dedupWindowMs: config.bus.dedupWindowMs,
    enqueueTimeoutMs: config.bus.enqueueTimeoutMs,
    highWaterMark: config.bus.highWaterMark,
    keepCompleted: config.bus.keepCompleted,
    waitingEvents: config.bus.waitingEvents,
    log,
  });
  type Running<C> = { spec: ConnectorConfig; connector: C; abort: AbortController };
  await initTracing();
  const metrics = createMetrics();
  const journal = bus.journal;
  const renderMetrics = async () => {
    const counts = await bus.jobCounts().catch(() => undefined);
    for (const fn of current.functions) {
      for (const [state, n] of Object.entries(counts?.get(fn.name) ?? {})) metrics.queueJobs.set({ queue: fn.queue, state }, n);
    }
    return { contentType: metrics.registry.contentType, body: await metrics.registry.metrics() };
  };
  const inbound = new Map<string, Running<InboundConnector>>();
  const outbound = new Map<string, Running<OutboundConnector>>();
  /** Outbound APIs by name; the object workers hold, updated in place on reload. */
  const apis: Record<string, object> = {};
  let current = config;
  let workers: FunctionWorkers | undefined;
  let gateway: Gateway | undefined;
  let started = false;

  const gcTuning = options.gcTuning ?? notTurnedOff('SWITCHBOARD_GC_TUNING');
  if (gcTuning) {
    const gc = tuneGc();
    if (gc.turnedOff.length > 0) log.info({ cpus: gc.cpus, off: gc.turnedOff }, "at most one CPU available: V8's GC helper threads off");
  }
  const trimOptions = options.idleHeapTrim ?? notTurnedOff('SWITCHBOARD_IDLE_HEAP_TRIM');
  // Started once start-up is done: its windows then measure traffic only.
  let heapTrim: IdleHeapTrim | undefined;

  const close = async (graceMs = 25_000) => {
    heapTrim?.stop();
    if (gateway) {
      gateway.draining = true;
      // Fastify stops accepting and waits for in-flight requests; past the grace, sockets are dropped.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([gateway.app.close(), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      gateway.app.server.closeAllConnections?.();
    }
    for (const c of inbound.values()) c.abort.abort();
    await Promise.allSettled([...inbound.values()].map((c) => c.connector.close()));
    await workers?.close(graceMs);
    for (const c of outbound.values()) c.abort.abort();
    await Promise.allSettled([...outbound.values()].map((c) => c.connector.close()));
    await bus.close();
    await flushTracing();
  };

  const startInbound = async (spec: ConnectorConfig) => {
    if (!spec.definition.inbound || !gateway) return;
    const abort = new AbortController();
    const connector = spec.definition.inbound({ name: spec.name, config: spec.config, log: log.child({ connector: spec.name }), signal: abort.signal });
    inbound.set(spec.name, { spec, connector, abort });
    const labels = { connector: spec.name };
    // Counted as plain numbers, read by the registry when scraped.
    const received = metrics.eventsReceived.tally(labels);
    const accepted = metrics.eventsAccepted.tally(labels);
    const duplicates = metrics.duplicates.tally(labels);
    const enqueueSeconds = metrics.enqueueSeconds.tally(labels);
    const publish: InboundIO['publish'] = (incoming, publishOptions) =>
      !tracingOn() ? publishNow(incoming, publishOptions) : inSpan(`publish ${spec.name}`, SpanKind.PRODUCER, eventContext(incoming[0] ?? {}), { 'switchboard.connector': spec.name, 'messaging.batch.message_count': incoming.length }, async () => {
        // With tracing on, each event carries this span as its parent.
        const trace = activeTraceExtension();
        const events = trace ? incoming.map((e) => ({ ...e, ...trace })) : incoming;
        return publishNow(events, publishOptions);
      });
    const publishNow: InboundIO['publish'] = async (events, publishOptions) => {
      received.add(events.length);
      const started = performance.now();
      try {
        const result = await bus.publish(events, publishOptions, spec.name);
        accepted.add(events.length);
        if (result.duplicates) duplicates.add(result.duplicates);
        return result;
      } catch (err) {
        metrics.eventsRejected.inc({ ...labels, reason: (err as { code?: string }).code ?? 'SWB_ERR_INTERNAL' }, events.length);
        throw err;
      } finally {
        enqueueSeconds.observe((performance.now() - started) / 1000);
      }
    };
    await connector.start({ publish, http: gateway.router, deadLetter: (entry) => bus.deadLetterMessage(entry) });
  };
  const stopInbound = async (name: string) => {
    const running = inbound.get(name);
    if (!running) return;
    inbound.delete(name);
    running.abort.abort();
    await running.connector.close();
  };
  const startOutbound = (spec: ConnectorConfig) => {
    if (!spec.definition.outbound) return;
    const abort = new AbortController();
    const connector = spec.definition.outbound({
      name: spec.name,
      config: spec.config,
      log: log.child({ connector: spec.name }),
      signal: abort.signal,
      countOutbound: (status) => metrics.outboundCalls.inc({ connector: spec.name, status: String(status) }),
    });
    const previous = outbound.get(spec.name);
    outbound.set(spec.name, { spec, connector, abort });
    apis[spec.name] = connector.api;
    // Calls already made through the old one finish; it closes a little later.
    if (previous) setTimeout(() => void previous.connector.close().catch(() => {}), 30_000).unref();
  };
  const only = typeof options.worker === 'object' ? options.worker.functions : undefined;
  const mine = (functions: readonly FunctionConfig[]) => (only ? functions.filter((f) => only.includes(f.name)) : functions);

  const reload = async (next: SwitchboardConfig): Promise<ReloadReport> => {
    const needsRestart = (['redis', 'bus', 'gateway'] as const).filter((k) => JSON.stringify(current[k]) !== JSON.stringify(next[k]));
    const connectorChanges = diff(new Map([...inbound, ...outbound].map(([n, r]) => [n, r.spec])), next.connectors.filter((c) => (gateway && c.definition.inbound) || (workers && c.definition.outbound)));
    const byName = new Map(next.connectors.map((c) => [c.name, c]));
    for (const name of [...connectorChanges.removed, ...connectorChanges.changed]) {
      await stopInbound(name);
      if (!byName.has(name) && outbound.has(name)) {
        const gone = outbound.get(name)!;
        outbound.delete(name);
        delete apis[name];
        setTimeout(() => void gone.connector.close().catch(() => {}), 30_000).unref();
      }
    }
    for (const name of [...connectorChanges.added, ...connectorChanges.changed]) {
      const spec = byName.get(name)!;
      if (gateway) await startInbound(spec);
      if (workers) startOutbound(spec);
    }
    bus.setFunctions(next.functions);
    const functionChanges = workers ? diff(workers.current(), mine(next.functions)) : { added: [], changed: [], removed: [] };
    if (workers) {
      for (const name of [...functionChanges.removed, ...functionChanges.changed]) await workers.remove(name);
      const nextByName = new Map(next.functions.map((f) => [f.name, f]));
      for (const name of [...functionChanges.added, ...functionChanges.changed]) await workers.add(nextByName.get(name)!);
    }
    current = next;
    const report = { connectors: connectorChanges, functions: functionChanges, needsRestart };
    log.info({ ...report }, 'config reloaded');
    return report;
  };

  try {
    await bus.waitUntilReady(options.startupTimeoutMs ?? 10_000);
    await journal?.migrate();

    if (options.gateway) {
      gateway = buildGateway({
        log,
        bodyLimit: config.gateway.bodyLimit,
        requestTimeoutMs: config.gateway.requestTimeoutMs,
        metrics: {
          onRejected: (connector, reason) => {
            metrics.eventsReceived.inc({ connector });
            metrics.eventsRejected.inc({ connector, reason });
          },
          render: renderMetrics,
        },
        isReady: async () => started && (await bus.ping()) });
      for (const spec of config.connectors) await startInbound(spec);
      await gateway.app.ready();
    }

    if (options.worker) {
      for (const spec of config.connectors) startOutbound(spec);
      if (only) {
        const unknown = only.filter((name) => !config.functions.some((f) => f.name === name));
        if (unknown.length) throw new Error(`unknown function(s): ${unknown.join(', ')}; known: ${config.functions.map((f) => f.name).join(', ')}`);
      }
      workers = new FunctionWorkers({
        functions: mine(config.functions),
        bus,
        redis,
        prefix: config.redis.prefix,
        connectors: apis,
        log,
        lockDurationMs: config.bus.lockDurationMs,
        metrics,
        ...(journal ? { journal } : {}),
        ...(options.importModule ? { importModule: options.importModule } : {}),
      });
      await workers.start();
    }

    if (gcTuning) {
      const { ms, usedBefore, usedAfter } = collectStartupGarbage();
      log.debug({ ms: Math.round(ms), heapUsedMiB: { before: mib(usedBefore), after: mib(usedAfter) } }, "start-up's garbage collected");
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
    if (trimOptions) {
      heapTrim = startIdleHeapTrim({
        onTrim: (before, after) => log.debug({ heapMiB: { before: mib(before.total), after: mib(after.total) } }, 'idle: heap trimmed'),
        ...(typeof trimOptions === 'object' ? trimOptions : {}),
      });
    }
    started = true;
    const paused = new Set<string>();
    const pauseConnector = async (name: string) => {
      if (!current.connectors.some((c) => c.name === name)) throw new Error(`unknown connector "${name}"`);
      paused.add(name);
      await stopInbound(name);
    };
    const resumeConnector = async (name: string) => {
      const spec = current.connectors.find((c) => c.name === name);
      if (!spec) throw new Error(`unknown connector "${name}"`);
      paused.delete(name);
      if (!inbound.has(name)) await startInbound(spec);
    };
    const connectorStates = () =>
      current.connectors.map((c) => ({
        name: c.name,
        type: c.type,
        inbound: Boolean(c.definition.inbound),
        outbound: Boolean(c.definition.outbound),
        state: paused.has(c.name) ? ('paused' as const) : inbound.has(c.name) || outbound.has(c.name) ? ('running' as const) : ('idle' as const),
      }));
    return {
      bus,
      metrics,
      renderMetrics,
      log,
      close,
      reload,
      config: () => current,
      pauseConnector,
      resumeConnector,
      connectorStates,
      ...(journal ? { journal } : {}),
      ...(gateway ? { gateway } : {}),
      ...(url ? { url } : {}),
    };
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
}
