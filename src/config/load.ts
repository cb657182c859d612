/**
 * Loads switchboard.yaml: safe YAML parsing, secret references, schema validation composed from
 * every connector type's own schema, and errors that name file, line, column, field and expectation.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { SwitchboardError } from '../errors.js';
import type { ConnectorDefinition } from '../registry/contract.js';
import { builtinRegistry } from '../registry/builtins.js';
import type { ConnectorRegistry } from '../registry/registry.js';
import type { SentinelTarget } from '../bus/redis.js';
import { normalizeFunctions, type FunctionConfig } from './functions.js';
import { RootSchema, type RootConfig } from './schema.js';
import { toBytes, toMilliseconds } from './units.js';

export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  /** Field path such as `connectors[0].config.path`. */
  path: string;
  message: string;
}

export class ConfigError extends SwitchboardError {
  constructor(readonly issues: ConfigIssue[]) {
    super('SWB_ERR_CONFIG_INVALID', issues.map(formatIssue).join('\n'));
  }
}

export function formatIssue(issue: ConfigIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.column}`;
  return issue.path ? `${where} ${issue.path}: ${issue.message}` : `${where} ${issue.message}`;
}

export interface ConnectorConfig {
  name: string;
  /** Its type and config block, to tell on reload whether it changed. */
  signature: string;
  type: string;
  config: Record<string, unknown>;
  definition: ConnectorDefinition;
}

export type { FunctionConfig, RuntimeConfig } from './functions.js';

export interface SwitchboardConfig {
  file: string;
  dir: string;
  redis: { url?: string; prefix: string; sentinel?: SentinelTarget };
  bus: { dedupWindowMs: number; enqueueTimeoutMs: number; highWaterMark: number; keepCompleted: number; lockDurationMs: number; waitingEvents: boolean };
  gateway: { host: string; port: number; bodyLimit: number; requestTimeoutMs: number };
  journal: { enabled: boolean; retentionMs: number; maxEvents: number };
  admin: { enabled: boolean; host: string; port: number; token?: string; auth: 'bearer' | 'none' };
  connectors: ConnectorConfig[];
  functions: FunctionConfig[];
  /** Resolved secret values, so that logs can redact them. */
  secrets: string[];
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  registry?: ConnectorRegistry;
}

const MAX_ALIASES = 100;
const REFERENCE = /\$\{([A-Za-z]+):([^}]*)\}/g;

// Paths (JSON pointers) whose value came from a secret reference, read by the `secret` keyword.
let referencedPaths = new Set<string>();
// JSON pointer of the value being validated, when it is not the root (a connector's config block).
let validationBase = '';

const ajv = new Ajv({ allErrors: true, verbose: true, useDefaults: true, strictTypes: false, strictTuples: false });
ajv.addKeyword({
  keyword: 'secret',
  schemaType: 'boolean',
  errors: true,
  validate: function validateSecret(this: unknown, required: boolean, _data: unknown, _schema?: unknown, cxt?: { instancePath: string }) {
    if (!required || !cxt || referencedPaths.has(validationBase + cxt.instancePath)) return true;
    (validateSecret as unknown as { errors: Partial<ErrorObject>[] }).errors = [
      { keyword: 'secret', message: 'must be a secret reference such as ${env:NAME} or ${file:PATH}, not a literal value', params: {} },
    ];
    return false;
  },
});
const validateRoot = ajv.compile(RootSchema);
const connectorValidators = new WeakMap<TSchema, ValidateFunction>();

function connectorValidator(schema: TSchema): ValidateFunction {
  let v = connectorValidators.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    connectorValidators.set(schema, v);
  }
  return v;
}

export async function loadConfig(file: string, options: LoadOptions = {}): Promise<SwitchboardConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new SwitchboardError('SWB_ERR_CONFIG_NOT_FOUND', `cannot read config file ${file}: ${(err as Error).message}`);
  }
  return parseConfig(text, file, options);
}

export async function parseConfig(text: string, file: string, options: LoadOptions = {}): Promise<SwitchboardConfig> {
  const env = options.env ?? process.env;
  const registry = options.registry ?? builtinRegistry();
  const dir = path.dirname(path.resolve(file));
  const displayFile = path.basename(file) === file ? file : path.relative(process.cwd(), file) || file;
  const lineCounter = new LineCounter();
  const issues: ConfigIssue[] = [];
  const issueAt = (offset: number, fieldPath: string, message: string) => {
    const pos = lineCounter.linePos(offset);
    issues.push({ file: displayFile, line: pos.line, column: pos.col, path: fieldPath, message });
  };
  const fail = () => {
    issues.sort((a, b) => a.line - b.line || a.column - b.column);
    return new ConfigError(issues);
  };

  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true, strict: true, schema: 'core' });
  // After the first syntax error the rest usually cascade from it; report that one, and every warning.
  for (const e of [...doc.errors.slice(0, 1), ...doc.warnings]) {
    const line = text.split('\n')[lineCounter.linePos(e.pos[0]).line - 1] ?? '';
    // `{` and `}` are YAML flow syntax, so a reference inside `{ … }` must be quoted.
    const ref = line.indexOf('${');
    const hint = e.code !== 'DUPLICATE_KEY' && ref > 0 && /[{[]/.test(line.slice(0, ref)) ? ' (inside { } or [ ], quote values that contain ${…})' : '';
    issueAt(e.pos[0], '', e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '') + hint);
  }
  if (issues.length) throw fail();

  const secrets: string[] = [];
  referencedPaths = new Set();
  resolveReferences(doc, doc.contents as Node | null, [], { dir, env, secrets, issueAt });
  if (issues.length) throw fail();

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIASES }) ?? {};
  } catch (err) {
    issueAt(0, '', `YAML aliases expand too far (${(err as Error).message}); at most ${MAX_ALIASES} are allowed`);
    throw fail();
  }

  const locate = (segments: (string | number)[]) => nodeOffset(doc, segments);
  const report = (errors: ErrorObject[] | null | undefined, base: (string | number)[]) => {
    for (const e of simplifyErrors(errors ?? [])) {
      const at = [...base, ...pointerSegments(e.instancePath)];
      const message = describeError(e);
      const key = e.keyword === 'additionalProperties' ? String(e.params.additionalProperty) : e.propertyName;
      if (key !== undefined) {
        const keyPath = [...at, key];
        issueAt(offsetOfKey(doc, keyPath) ?? locate(at), fieldPath(keyPath), message);
      } else if (e.keyword === 'required') {
        issueAt(locate(at), fieldPath([...at, String(e.params.missingProperty)]), message);
      } else {
        issueAt(locate(at), fieldPath(at), message);
      }
    }
  };

  if (!validateRoot(data)) {
    report(validateRoot.errors, []);
    throw fail();
  }
  const root = data as RootConfig;

  for (const [i, plugin] of (root.plugins ?? []).entries()) {
    try {
      await registry.loadPlugin(plugin, dir);
    } catch (err) {
      issueAt(locate(['plugins', i]), `plugins[${i}]`, `cannot load plugin "${plugin}": ${(err as Error).message}`);
    }
  }

  const connectors: ConnectorConfig[] = [];
  const firstLine = new Map<string, number>();
  for (const [i, entry] of root.connectors.entries()) {
    const seen = firstLine.get(entry.name);
    if (seen !== undefined) {
      issueAt(locate(['connectors', i, 'name']), `connectors[${i}].name`, `duplicate connector name "${entry.name}" (first defined at line ${seen})`);
    } else {
      firstLine.set(entry.name, lineCounter.linePos(locate(['connectors', i, 'name'])).line);
    }
    const definition = registry.get(entry.type);
    if (!definition) {
      issueAt(locate(['connectors', i, 'type']), `connectors[${i}].type`, `unknown connector type "${entry.type}"; known types: ${registry.types().join(', ')}`);
      continue;
    }
    const validate = connectorValidator(definition.configSchema);
    validationBase = `/connectors/${i}/config`;
    const valid = validate(entry.config);
    validationBase = '';
    if (!valid) {
      report(validate.errors, ['connectors', i, 'config']);
      continue;
    }
    for (const problem of definition.check?.(entry.config) ?? []) {
      const at = ['connectors', i, 'config', ...problem.path];
      issueAt(locate(at), fieldPath(at), problem.message);
    }
    connectors.push({ name: entry.name, signature: JSON.stringify({ type: entry.type, config: entry.config }), type: entry.type, config: entry.config as Record<string, unknown>, definition });
  }

  const functions = normalizeFunctions(root, {
    dir,
    report: (at, message) => issueAt(locate(at), fieldPath(at), message),
    lineOf: (at) => lineCounter.linePos(locate(at)).line,
    outboundConnectors: new Set(connectors.filter((c) => c.definition.outbound).map((c) => c.name)),
  });
  if (issues.length) throw fail();

  return {
    file: path.resolve(file),
    dir,
    redis: { ...(root.redis.url ? { url: root.redis.url } : {}), prefix: root.redis.prefix, ...(root.redis.sentinel ? { sentinel: root.redis.sentinel } : {}) },
    bus: { dedupWindowMs: toMilliseconds(root.bus.dedupWindow), enqueueTimeoutMs: toMilliseconds(root.bus.enqueueTimeout), highWaterMark: root.bus.highWaterMark, keepCompleted: root.bus.keepCompleted, lockDurationMs: toMilliseconds(root.bus.lockDuration), waitingEvents: root.bus.waitingEvents },
    gateway: { host: root.gateway.host, port: root.gateway.port, bodyLimit: toBytes(root.gateway.bodyLimit), requestTimeoutMs: toMilliseconds(root.gateway.requestTimeout) },
    journal: { enabled: root.journal.enabled, retentionMs: toMilliseconds(root.journal.retention), maxEvents: root.journal.maxEvents },
    admin: { enabled: root.admin.enabled, host: root.admin.host, port: root.admin.port, auth: root.admin.auth, ...(root.admin.token ? { token: root.admin.token } : {}) },
    connectors,
    functions,
    secrets,
  };
}

interface ResolveContext {
  dir: string;
  env: NodeJS.ProcessEnv;
  secrets: string[];
  issueAt(offset: number, fieldPath: string, message: string): void;
}

/** Replaces `${env:NAME}` and `${file:PATH}` in every string scalar, recording where they were. */
function resolveReferences(doc: Document, node: Node | null, segments: (string | number)[], cx: ResolveContext): void {
  if (!node) return;
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      resolveReferences(doc, pair.value as Node | null, [...segments, key], cx);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => resolveReferences(doc, item as Node | null, [...segments, i], cx));
  } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
    const offset = node.range?.[0] ?? 0;
    let resolvedAny = false;
    node.value = node.value.replace(REFERENCE, (whole, kind: string, arg: string) => {
      const value = resolveReference(kind, arg, cx);
      if (typeof value === 'string') {
        resolvedAny = true;
        if (value) cx.secrets.push(value);
        return value;
      }
      cx.issueAt(offset, fieldPath(segments), value.error);
      return whole;
    });
    if (resolvedAny) referencedPaths.add(segments.length ? '/' + segments.map((s) => String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('/') : '');
  }
}

function resolveReference(kind: string, arg: string, cx: ResolveContext): string | { error: string } {
  if (kind === 'env') {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(arg)) return { error: `\${env:${arg}} is not a valid environment variable name` };
    const value = cx.env[arg];
    if (value === undefined) return { error: `unresolved secret reference \${env:${arg}}: environment variable ${arg} is not set` };
    return value;
  }
  if (kind === 'file') {
    const file = path.resolve(cx.dir, arg);
    try {
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      return { error: `unresolved secret reference \${file:${arg}}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
    }
  }
  return { error: `unknown reference kind "\${${kind}:…}"; use \${env:NAME} or \${file:PATH}` };
}

function nodeOffset(doc: Document, segments: (string | number)[]): number {
  for (let n = segments.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(segments.slice(0, n), true);
    const range = (node as Node | undefined)?.range;
    if (range) return range[0];
  }
  return 0;
}

function offsetOfKey(doc: Document, segments: (string | number)[]): number | undefined {
  const parent = segments.length > 1 ? doc.getIn(segments.slice(0, -1), true) : doc.contents;
  if (!isMap(parent)) return undefined;
  const key = segments[segments.length - 1];
  const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key));
  return (pair?.key as Node | undefined)?.range?.[0] ?? parent.range?.[0];
}

function pointerSegments(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

export function fieldPath(segments: (string | number)[]): string {
  return segments.reduce<string>((acc, s) => (typeof s === 'number' ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '');
}

/** With unions, Ajv reports every branch's failure; keep one message per union instead. */
function simplifyErrors(errors: ErrorObject[]): ErrorObject[] {
  const unions = errors.filter((e) => e.keyword === 'anyOf');
  const kept = errors.filter((e) => {
    if (e.keyword === 'anyOf') return true;
    if (e.keyword === 'propertyNames') return false; // its pattern error says the same, with the name
    // A value of the wrong type also fails its enum or pattern; the type error says enough.
    if (e.keyword !== 'type' && errors.some((o) => o.keyword === 'type' && o.instancePath === e.instancePath)) return false;
    return !unions.some((u) => e.schemaPath.startsWith(u.schemaPath.replace(/\/anyOf$/, '/anyOf/')) && e.instancePath.startsWith(u.instancePath));
  });
  // An error inside a union member is already summarized by the union itself.
  return kept.filter((e, i) => kept.findIndex((o) => o.instancePath === e.instancePath && o.keyword === e.keyword && o.message === e.message) === i);
}

function describeError(e: ErrorObject): string {
  const description = (e.parentSchema as { description?: string } | undefined)?.description;
  switch (e.keyword) {
    case 'required':
      return `missing required field "${e.params.missingProperty}"`;
    case 'additionalProperties': {
      const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      return `unknown field "${e.params.additionalProperty}"${known.length ? `; expected one of: ${known.join(', ')}` : ''}`;
    }
    case 'type':
      return `expected ${e.params.type}, got ${jsonType(e.data)}`;
    case 'enum':
      return `expected one of: ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `expected ${JSON.stringify(e.params.allowedValue)}`;
    case 'anyOf':
      return `expected ${description ?? 'a value of another form'}, got ${JSON.stringify(e.data)}`;
    case 'pattern':
      if (e.propertyName !== undefined) return `invalid name "${e.propertyName}": must match ${e.params.pattern}`;
      return `"${String(e.data)}" is not valid: expected ${description ?? `a string matching ${e.params.pattern}`}`;
    default:
      return `${e.message ?? 'is invalid'}${description ? ` (${description})` : ''}`;
  }
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}
