/**
 * Turns `functions`, `sequences` and `routes` into one list of runnable targets: each with its queue,
 * its runtime, its trigger and its JSONata expressions compiled once. Sequences are wired here, by
 * setting each step's trigger and emit.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type jsonataModule from 'jsonata';
import { lazyModule } from '../lazy-module.js';

/** jsonata loads with the first expression: configurations without filters or mappings never load it. */
const jsonata = lazyModule<typeof jsonataModule>('jsonata');
import safeRegex from 'safe-regex2';
import type { RootConfig, TriggerSpec } from './schema.js';
import { toMilliseconds } from './units.js';

export type Expression = ReturnType<typeof jsonataModule>;

export type RuntimeConfig =
  | { kind: 'node'; module: string; isolated: boolean; memoryLimitMb: number }
  | { kind: 'process'; command: string[]; env: Record<string, string>; cwd: string; persistent?: { instances: number } }
  | { kind: 'http'; url: string; headers: Record<string, string>; allowPrivateNetworks: boolean }
  | { kind: 'route'; connector: string; call: string; args: Expression };

export interface FunctionConfig {
  name: string;
  /** What the YAML said (and the sequence wiring), to tell on reload whether it changed. */
  signature: string;
  /** BullMQ queue name: `fn.<name>` for functions, `route.<name>` for routes. */
  queue: string;
  runtime: RuntimeConfig;
  trigger: TriggerSpec;
  filter?: Expression;
  input?: Expression;
  attempts: number;
  backoff: { type: 'exponential' | 'fixed'; delay: number };
  timeoutMs: number;
  concurrency: number;
  highWaterMark?: number;
  emit?: { type: string; source?: string; subject?: string; data?: Expression };
}

export interface NormalizeContext {
  dir: string;
  /** Reports a problem at a path of the YAML document. */
  report(at: (string | number)[], message: string): void;
  lineOf(at: (string | number)[]): number;
  /** Names of connectors that have an outbound side. */
  outboundConnectors: Set<string>;
}

export function sequenceEventType(sequence: string, step: string): string {
  return `dev.switchboard.sequence.${sequence}.${step}`;
}

/** Regular expressions in expressions run on event data senders control: refuse the ones that can backtrack exponentially. */
function unsafeRegex(node: unknown): RegExp | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const n = node as { type?: string; value?: unknown };
  if (n.type === 'regex' && n.value instanceof RegExp && !safeRegex(n.value)) return n.value;
  for (const child of Object.values(node)) {
    const found = Array.isArray(child) ? child.map(unsafeRegex).find(Boolean) : unsafeRegex(child);
    if (found) return found;
  }
  return undefined;
}

function compile(expression: string | undefined, at: (string | number)[], cx: NormalizeContext): Expression | undefined {
  if (expression === undefined) return undefined;
  try {
    const compiled = jsonata()(expression);
    const risky = unsafeRegex(compiled.ast());
    if (risky) {
      cx.report(at, `regular expression ${risky} can take exponential time on some inputs (nested repetition); rewrite it`);
      return undefined;
    }
    return compiled;
  } catch (err) {
    const e = err as { message: string; position?: number };
    cx.report(at, `invalid JSONata expression${e.position !== undefined ? ` at character ${e.position}` : ''}: ${e.message}`);
    return undefined;
  }
}

function policy(spec: { retry?: RootConfig['functions'][number]['retry']; timeout: string | number; concurrency: number; highWaterMark?: number }) {
  const retry = spec.retry ?? { attempts: 3, backoff: { type: 'exponential' as const, delay: '1s' } };
  return {
    attempts: retry.attempts,
    backoff: { type: retry.backoff.type, delay: toMilliseconds(retry.backoff.delay) },
    timeoutMs: toMilliseconds(spec.timeout),
    concurrency: spec.concurrency,
    ...(spec.highWaterMark !== undefined ? { highWaterMark: spec.highWaterMark } : {}),
  };
}

export function normalizeFunctions(root: RootConfig, cx: NormalizeContext): FunctionConfig[] {
  const out: FunctionConfig[] = [];
  const firstLine = new Map<string, { line: number; what: string }>();
  const claimName = (name: string, at: (string | number)[], what: string) => {
    const seen = firstLine.get(name);
    if (!seen) firstLine.set(name, { line: cx.lineOf(at), what });
    else if (seen.what === what) cx.report(at, `duplicate ${what} name "${name}" (first defined at line ${seen.line})`);
    else cx.report(at, `${what} name "${name}" is already the name of a ${seen.what} (line ${seen.line}); functions, sequences and routes share names`);
  };

  // Sequences decide the triggers and emits of their steps.
  const wiring = new Map<string, { sequence: string; trigger: TriggerSpec; filter?: string; emit?: RootConfig['sequences'][number]['emit'] }>();
  const byName = new Map(root.functions.map((f, i) => [f.name, { spec: f, index: i }]));
  for (const [s, seq] of root.sequences.entries()) {
    claimName(seq.name, ['sequences', s, 'name'], 'sequence');
    seq.steps.forEach((step, k) => {
      const at = ['sequences', s, 'steps', k];
      const target = byName.get(step);
      if (!target) return cx.report(at, `unknown function "${step}"; known functions: ${[...byName.keys()].join(', ') || 'none'}`);
      const already = wiring.get(step);
      if (already) return cx.report(at, `function "${step}" is already a step of sequence "${already.sequence}"`);
      for (const own of ['trigger', 'filter', 'emit'] as const) {
        if (target.spec[own] !== undefined) cx.report(['functions', target.index, own], `function "${step}" is a step of sequence "${seq.name}", which sets its ${own}`);
      }
      const previous = seq.steps[k - 1];
      const next = seq.steps[k + 1];
      wiring.set(step, {
        sequence: seq.name,
        trigger: previous === undefined ? seq.trigger : ({ type: sequenceEventType(seq.name, previous) } as TriggerSpec),
        ...(previous === undefined && seq.filter ? { filter: seq.filter } : {}),
        ...(next !== undefined ? { emit: { type: sequenceEventType(seq.name, step) } } : seq.emit ? { emit: seq.emit } : {}),
      });
    });
  }

  for (const [i, fn] of root.functions.entries()) {
    const at = (...rest: (string | number)[]) => ['functions', i, ...rest];
    claimName(fn.name, at('name'), 'function');
    const wired = wiring.get(fn.name);
    const trigger = wired?.trigger ?? fn.trigger;
    if (!trigger) {
      cx.report(at(), 'missing required field "trigger" (or make the function a step of a sequence)');
      continue;
    }
    const runtime = normalizeRuntime(fn, at, cx);
    const emit = wired ? wired.emit : fn.emit;
    const filter = compile(wired?.filter ?? fn.filter, wired?.filter ? ['sequences'] : at('filter'), cx);
    const input = compile(fn.input, at('input'), cx);
    const emitData = compile(emit?.data, wired ? ['sequences'] : at('emit', 'data'), cx);
    if (!runtime) continue;
    out.push({
      name: fn.name,
      signature: JSON.stringify({ fn, wired }),
      queue: `fn.${fn.name}`,
      runtime,
      trigger,
      ...(filter ? { filter } : {}),
      ...(input ? { input } : {}),
      ...policy(fn),
      ...(emit ? { emit: { type: emit.type, ...(emit.source ? { source: emit.source } : {}), ...(emit.subject ? { subject: emit.subject } : {}), ...(emitData ? { data: emitData } : {}) } } : {}),
    });
  }

  for (const [r, route] of root.routes.entries()) {
    const at = (...rest: (string | number)[]) => ['routes', r, ...rest];
    claimName(route.name, at('name'), 'route');
    if (!cx.outboundConnectors.has(route.connector)) {
      cx.report(at('connector'), `no outbound connector named "${route.connector}"; outbound connectors: ${[...cx.outboundConnectors].join(', ') || 'none'}`);
    }
    const args = compile(route.args, at('args'), cx);
    const filter = compile(route.filter, at('filter'), cx);
    if (!args) continue;
    out.push({
      name: route.name,
      signature: JSON.stringify({ route }),
      queue: `route.${route.name}`,
      runtime: { kind: 'route', connector: route.connector, call: route.call, args },
      trigger: route.trigger,
      ...(filter ? { filter } : {}),
      ...policy(route),
    });
  }
  return out;
}

function normalizeRuntime(fn: RootConfig['functions'][number], at: (...rest: (string | number)[]) => (string | number)[], cx: NormalizeContext): RuntimeConfig | undefined {
  const require = (field: 'module' | 'command' | 'url') => {
    if (fn[field] === undefined) cx.report(at(field), `missing required field "${field}" for runtime ${fn.runtime}`);
    return fn[field] !== undefined;
  };
  const foreign = { node: ['command', 'env', 'persistent', 'url', 'headers', 'allowPrivateNetworks'], process: ['module', 'isolated', 'memoryLimit', 'url', 'headers', 'allowPrivateNetworks'], http: ['module', 'isolated', 'memoryLimit', 'command', 'env', 'persistent'] }[fn.runtime];
  for (const field of foreign) {
    if ((fn as Record<string, unknown>)[field] !== undefined) cx.report(at(field), `"${field}" does not apply to runtime ${fn.runtime}`);
  }
  switch (fn.runtime) {
    case 'node': {
      if (!require('module')) return undefined;
      const modulePath = path.resolve(cx.dir, fn.module!);
      if (!existsSync(modulePath)) cx.report(at('module'), `module file not found: ${modulePath}`);
      return { kind: 'node', module: modulePath, isolated: fn.isolated ?? false, memoryLimitMb: fn.memoryLimit ?? 128 };
    }
    case 'process':
      if (!require('command')) return undefined;
      return { kind: 'process', command: fn.command!, env: fn.env ?? {}, cwd: cx.dir, ...(fn.persistent ? { persistent: fn.persistent } : {}) };
    case 'http':
      if (!require('url')) return undefined;
      return { kind: 'http', url: fn.url!, headers: fn.headers ?? {}, allowPrivateNetworks: fn.allowPrivateNetworks ?? false };
  }
}
