/**
 * The `node` runtime, isolated: each invocation runs in a fresh worker thread with a heap limit
 * (`resourceLimits`) and is terminated at its timeout. `ctx.connectors`, `ctx.emit`, `ctx.state` and
 * `ctx.log` reach the main thread by message, so arguments and results must be structured-cloneable.
 * A worker thread limits the JS heap, not CPU or native memory, and is no security boundary.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { RuntimeConfig } from '../../config/functions.js';
import { FunctionFailedError, type Runtime } from './types.js';

type NodeConfig = Extract<RuntimeConfig, { kind: 'node' }>;

// Runs inside the thread; eval'd so that it needs no file of its own next to the compiled code.
const ENTRY = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { moduleUrl, tsApiUrl, event, meta } = workerData;
  const mod = /\\.[cm]?ts$/.test(moduleUrl) ? await (await import(tsApiUrl)).tsImport(moduleUrl, moduleUrl) : await import(moduleUrl);
  let handler = mod.default;
  if (handler && typeof handler === 'object' && typeof handler.default === 'function') handler = handler.default;
  if (typeof handler !== 'function') throw new Error('the module must default-export a function (event, ctx) => result');
  let seq = 0;
  const calls = new Map();
  parentPort.on('message', (m) => { const c = calls.get(m.id); if (!c) return; calls.delete(m.id); m.error !== undefined ? c.reject(new Error(m.error)) : c.resolve(m.result); });
  const rpc = (op, args) => new Promise((resolve, reject) => { const id = ++seq; calls.set(id, { resolve, reject }); parentPort.postMessage({ rpc: { id, op, args } }); });
  const log = {};
  for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) log[level] = (...args) => parentPort.postMessage({ log: { level, args } });
  log.child = () => log;
  const connectors = new Proxy({}, { get: (_, name) => new Proxy({}, { get: (_, method) => (...args) => rpc('connector', [name, method, args]) }) });
  const state = {};
  for (const m of ['get', 'set', 'incr', 'delete']) state[m] = (...args) => rpc('state', [m, args]);
  const ctx = { ...meta, connectors, log, state, emit: (e) => rpc('emit', [e]), signal: new AbortController().signal };
  const result = await handler(event, ctx);
  parentPort.postMessage({ done: { result } });
})().catch((err) => parentPort.postMessage({ done: { error: String((err && err.message) || err) } }));
`;

const tsApiUrl = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href;

export function isolatedRuntime(config: NodeConfig): Runtime {
  const moduleUrl = pathToFileURL(config.module).href;
  return {
    invoke(event, ctx) {
      return new Promise((resolve, reject) => {
        const worker = new Worker(ENTRY, {
          eval: true,
          workerData: { moduleUrl, tsApiUrl, event, meta: { functionName: ctx.functionName, attempt: ctx.attempt, idempotencyKey: ctx.idempotencyKey } },
          resourceLimits: { maxOldGenerationSizeMb: config.memoryLimitMb, maxYoungGenerationSizeMb: Math.min(32, Math.max(4, config.memoryLimitMb / 4)) },
          env: {},
          stdout: false,
          stderr: false,
        });
        let settled = false;
        const finish = (fn: () => void) => {
          if (settled) return;
          settled = true;
          ctx.signal.removeEventListener('abort', onAbort);
          void worker.terminate();
          fn();
        };
        const onAbort = () => finish(() => reject(ctx.signal.reason));
        ctx.signal.addEventListener('abort', onAbort, { once: true });
        worker.on('message', (message: { rpc?: { id: number; op: string; args: unknown[] }; log?: { level: string; args: unknown[] }; done?: { result?: unknown; error?: string } }) => {
          if (message.done) {
            const { done } = message;
            return finish(() => (done.error !== undefined ? reject(new FunctionFailedError(done.error)) : resolve(done.result)));
          }
          if (message.log) {
            const fn = (ctx.log as unknown as Record<string, (...a: unknown[]) => void>)[message.log.level];
            fn?.apply(ctx.log, message.log.args);
            return;
          }
          if (message.rpc) {
            const { id, op, args } = message.rpc;
            Promise.resolve()
              .then(() => {
                if (op === 'emit') return ctx.emit(args[0] as never);
                if (op === 'state') return (ctx.state as unknown as Record<string, (...a: unknown[]) => unknown>)[args[0] as string]!(...(args[1] as unknown[]));
                const [name, method, callArgs] = args as [string, string, unknown[]];
                const api = (ctx.connectors as Record<string, Record<string, (...a: unknown[]) => unknown>>)[name];
                if (!api || typeof api[method] !== 'function') throw new Error(`no connector method ${name}.${method}`);
                return api[method]!(...callArgs);
              })
              .then(
                (result) => worker.postMessage({ id, result }),
                (err: Error) => worker.postMessage({ id, error: err.message }),
              );
          }
        });
        worker.on('error', (err: Error & { code?: string }) =>
          finish(() => reject(new FunctionFailedError(err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `function exceeded its memory limit of ${config.memoryLimitMb} MiB` : err.message))),
        );
        worker.on('exit', (code) => finish(() => reject(new FunctionFailedError(`isolated function exited with code ${code} before answering`))));
      });
    },
    close: async () => {},
  };
}
