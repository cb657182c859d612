/**
 * The schema of switchboard.yaml, written once in TypeBox: it validates at load, types the code,
 * and is published as schemas/switchboard.schema.json (with each connector's own config schema).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ByteSize, Duration } from './units.js';

export const Name = Type.String({
  pattern: '^[a-z][a-z0-9-]{0,62}$',
  description: 'lower-case letters, digits and dashes, starting with a letter',
});

/** A string enum as JSON Schema `enum`, which gives one clear error instead of one per union member. */
export function StringEnum<const T extends string>(values: readonly T[], options: { default?: T; description?: string } = {}) {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });
}

/** A string that must come from `${env:NAME}` or `${file:PATH}`, never a literal in the file. */
export function SecretString(options: { description?: string } = {}) {
  return Type.String({ minLength: 1, secret: true, ...options });
}

export const AttributeMatcher = Type.Union(
  [
    Type.String({ description: 'exact match' }),
    Type.Object(
      {
        exact: Type.Optional(Type.String()),
        prefix: Type.Optional(Type.String()),
        suffix: Type.Optional(Type.String()),
      },
      { additionalProperties: false, minProperties: 1 },
    ),
  ],
  { description: 'a string (exact match) or { exact | prefix | suffix }' },
);

export const Trigger = Type.Recursive(
  (Self) =>
    Type.Object(
      {
        all: Type.Optional(Type.Array(Self, { minItems: 1, description: 'every sub-trigger matches' })),
        any: Type.Optional(Type.Array(Self, { minItems: 1, description: 'at least one sub-trigger matches' })),
        not: Type.Optional(Self),
      },
      {
        additionalProperties: AttributeMatcher,
        propertyNames: { pattern: '^[a-z0-9_]+$' },
        minProperties: 1,
        description: 'CloudEvent attribute names (type, source, subject, extensions) mapped to matchers; all must match',
      },
    ),
  { $id: 'Trigger' },
);
export type TriggerSpec = Static<typeof Trigger>;
// Used in several places, defined once in the root's $defs.
const TriggerRef = Type.Unsafe<TriggerSpec>(Type.Ref('Trigger'));

export const RetryPolicy = Type.Object(
  {
    attempts: Type.Integer({ minimum: 1, maximum: 100, default: 3, description: 'runs in all, the first included' }),
    backoff: Type.Object(
      {
        type: StringEnum(['exponential', 'fixed'], { default: 'exponential' }),
        delay: Duration({ default: '1s', description: 'first retry delay; doubles with exponential' }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

const JsonataExpression = (description: string) => Type.String({ minLength: 1, description: `JSONata: ${description}` });

export const EmitSpec = Type.Object(
  {
    type: Type.String({ minLength: 1, description: 'CloudEvent type of the emitted event' }),
    source: Type.Optional(Type.String({ minLength: 1, description: 'defaults to /switchboard/functions/<name>' })),
    subject: Type.Optional(Type.String({ minLength: 1 })),
    data: Type.Optional(JsonataExpression('shapes the emitted data from the result ($ is the result, $event the cause)')),
  },
  { additionalProperties: false },
);

/** What runs functions and routes alike: when, how often, how many at once. */
const RunPolicy = {
  retry: Type.Optional(RetryPolicy),
  timeout: Duration({ default: '30s' }),
  concurrency: Type.Integer({ minimum: 1, maximum: 10_000, default: 10 }),
  highWaterMark: Type.Optional(Type.Integer({ minimum: 0, description: 'most waiting jobs before new events for it get 503; defaults to bus.highWaterMark' })),
};

export const FunctionSpec = Type.Object(
  {
    name: Name,
    runtime: StringEnum(['node', 'process', 'http'], {
      description: 'node: a JS/TS module (default export async (event, ctx) => result); process: any program (event on stdin, result on stdout); http: POST the event to a URL',
    }),
    module: Type.Optional(Type.String({ minLength: 1, description: 'node: path to the module, relative to this file' })),
    isolated: Type.Optional(Type.Boolean({ description: 'node: run in a worker thread with a memory limit, terminated on timeout' })),
    memoryLimit: Type.Optional(Type.Integer({ minimum: 16, description: 'node isolated: heap limit in MiB (default 128)' })),
    command: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'process: program and arguments, e.g. [python3, fn.py]' })),
    env: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String(), { description: 'process: the only environment variables the program sees' })),
    persistent: Type.Optional(
      Type.Object({ instances: Type.Integer({ minimum: 1, maximum: 256, default: 1 }) }, { additionalProperties: false, description: 'process: keep long-lived processes speaking NDJSON over stdio' }),
    ),
    url: Type.Optional(Type.String({ pattern: '^https?://', description: 'http: where the event is POSTed in CloudEvents binary mode' })),
    headers: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'http: sent with every call' })),
    allowPrivateNetworks: Type.Optional(Type.Boolean({ description: 'http: permit private and loopback addresses' })),
    trigger: Type.Optional(TriggerRef),
    filter: Type.Optional(JsonataExpression('the event matches only when this is truthy, e.g. data.amount > 100')),
    input: Type.Optional(JsonataExpression('reshapes the event data the function receives')),
    ...RunPolicy,
    emit: Type.Optional(EmitSpec),
  },
  { additionalProperties: false },
);

export const SequenceSpec = Type.Object(
  {
    name: Name,
    trigger: TriggerRef,
    filter: Type.Optional(JsonataExpression('the sequence starts only when this is truthy')),
    steps: Type.Array(Name, { minItems: 1, description: 'functions run one after the other, each on the previous result' }),
    emit: Type.Optional(EmitSpec),
  },
  { additionalProperties: false },
);

export const RouteSpec = Type.Object(
  {
    name: Name,
    trigger: TriggerRef,
    filter: Type.Optional(JsonataExpression('the route runs only when this is truthy')),
    connector: Name,
    call: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'the connector API method, e.g. postMessage or request' }),
    args: JsonataExpression('the argument of the call, built from the event'),
    ...RunPolicy,
  },
  { additionalProperties: false },
);

export const ConnectorEntry = Type.Object(
  {
    name: Name,
    type: Type.String({ minLength: 1, description: 'connector type: webhook, cron, http, or one from plugins' }),
    config: Type.Object({}, { additionalProperties: true, default: {} }),
  },
  { additionalProperties: false },
);

export const RootSchema = Type.Object(
  {
    plugins: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'npm packages or files exporting connectors' })),
    redis: Type.Object(
      {
        url: Type.Optional(Type.String({ minLength: 1, description: 'defaults to $REDIS_URL, then redis://127.0.0.1:6379' })),
        prefix: Type.String({ pattern: '^[A-Za-z0-9_.-]+$', default: 'switchboard', description: 'key prefix of every queue' }),
        sentinel: Type.Optional(
          Type.Object(
            {
              masterName: Type.String({ minLength: 1 }),
              sentinels: Type.Array(Type.String({ pattern: '^[^:\\s]+(:\\d+)?$' }), { minItems: 1, description: 'host:port of each sentinel' }),
              password: Type.Optional(SecretString()),
              sentinelPassword: Type.Optional(SecretString()),
              db: Type.Optional(Type.Integer({ minimum: 0 })),
              tls: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false, description: 'Redis Sentinel instead of url' },
          ),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    bus: Type.Object(
      {
        dedupWindow: Duration({ default: '72h', description: 'how long a delivered event id is remembered' }),
        enqueueTimeout: Duration({ default: '2s', description: 'longest wait for Redis before answering 503' }),
        highWaterMark: Type.Integer({ minimum: 0, default: 100_000, description: 'most waiting jobs per function queue before new events get 503 (0: no limit)' }),
        keepCompleted: Type.Integer({
          minimum: 0,
          maximum: 1_000_000,
          default: 0,
          description: "completed jobs BullMQ keeps per function queue (the last N, for at most 1 h), for its queue views; 0 removes a job once its run succeeds (the event journal records every run either way)",
        }),
        lockDuration: Duration({ default: '30s', description: 'how long a worker holds a job without renewing; a crashed worker\'s jobs are retried after it' }),
        waitingEvents: Type.Boolean({
          default: false,
          description: "also write BullMQ's `waiting` event for each job to its queue's event stream, for QueueEvents listeners (workers do not need it; costs Redis CPU per event)",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    journal: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        retention: Duration({ default: '7d', description: 'how long an event\'s journal is kept' }),
        maxEvents: Type.Integer({ minimum: 1, default: 100_000, description: 'most events whose journal is kept (dropped an eighth at a time, oldest first)' }),
      },
      { additionalProperties: false, default: {} },
    ),
    admin: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        host: Type.String({ default: '127.0.0.1' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 9090 }),
        token: Type.Optional(SecretString({ description: 'bearer token for /admin; required unless auth is none' })),
        auth: StringEnum(['bearer', 'none'], { default: 'bearer', description: 'none only for local development' }),
      },
      { additionalProperties: false, default: {} },
    ),
    gateway: Type.Object(
      {
        host: Type.String({ default: '0.0.0.0' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
        bodyLimit: ByteSize({ default: '1mib', description: 'default body limit of every HTTP connector' }),
        requestTimeout: Duration({ default: '30s', description: 'a request (headers and body) must arrive within this; slow clients are cut off' }),
      },
      { additionalProperties: false, default: {} },
    ),
    connectors: Type.Array(ConnectorEntry, { default: [] }),
    functions: Type.Array(FunctionSpec, { default: [] }),
    sequences: Type.Array(SequenceSpec, { default: [] }),
    routes: Type.Array(RouteSpec, { default: [] }),
  },
  { additionalProperties: false, $id: 'https://switchboard.dev/schemas/switchboard.schema.json', $defs: { Trigger } },
);
export type RootConfig = Static<typeof RootSchema>;

/** The published schema: the root with each connector type's config schema composed in. */
export function composeRootSchema(connectors: { type: string; configSchema: TSchema; description: string }[]): object {
  const root = JSON.parse(JSON.stringify(RootSchema)) as Record<string, any>;
  root.$schema = 'http://json-schema.org/draft-07/schema#';
  root.title = 'Switchboard configuration';
  root.properties.connectors.items = {
    type: 'object',
    required: ['name', 'type'],
    properties: {
      name: root.properties.connectors.items.properties.name,
      type: { enum: connectors.map((c) => c.type) },
      config: { type: 'object' },
    },
    allOf: connectors.map((c) => ({
      if: { properties: { type: { const: c.type } } },
      then: { properties: { config: JSON.parse(JSON.stringify(c.configSchema)) }, description: c.description },
    })),
  };
  return root;
}
