/**
 * The connector contract: the one seam every inbound and outbound connector plugs into.
 * A connector is a plain object; `defineConnector` only gives it types.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { CloudEvent } from '../events/cloudevent.js';

export type { Logger };

export interface ConnectorContext<C> {
  /** The connector's `name:` in YAML. */
  name: string;
  /** Its `config:` block, validated against `configSchema` with defaults applied and secrets resolved. */
  config: Readonly<C>;
  log: Logger;
  /** Aborted when the connector is closed. */
  signal: AbortSignal;
  /** Counts an outbound call's answer (HTTP status, or 'error'), for switchboard_outbound_calls_total. */
  countOutbound?(status: number | 'error'): void;
}

export interface PublishResult {
  /** Event ids in the order given. */
  ids: string[];
  /** How many jobs were enqueued, over all events (0 when no trigger matched). */
  routed: number;
  /** Jobs not enqueued because their event was already known (dedup). */
  duplicates?: number;
  /** Per event (in order), the functions and routes it was routed to. */
  routes?: string[][];
}

/** An HTTP request as a connector sees it: the raw bytes are kept for signature checks. */
export interface InboundHttpRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** The URL as received, path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  query: Record<string, string | string[] | undefined>;
  rawBody: Buffer;
  ip: string;
}

export interface InboundHttpResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface HttpRoute {
  /** The connector that mounts it (a metrics label). */
  connector?: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';
  path: string;
  /** Largest accepted body in bytes; larger requests get 413 before the handler runs. */
  bodyLimit?: number;
  handle(request: InboundHttpRequest): Promise<InboundHttpResponse>;
}

export interface HttpRouter {
  /** Mounts a route on the gateway; returns a function that removes it. */
  route(route: HttpRoute): () => void;
}

export interface PublishOptions {
  /** How long these events' ids are remembered for dedup; defaults to bus.dedupWindow. */
  dedupWindowMs?: number;
  /**
   * Per event (same order), the JSON text its `data` was parsed from, when it was (a webhook's raw
   * body): the bus splices the text into the job instead of serializing `data` again.
   */
  dataJson?: readonly (string | undefined)[];
}

export interface InboundIO {
  /** Resolves only once Redis holds every event's jobs; a rejection means: do not acknowledge upstream. */
  publish(events: CloudEvent[], options?: PublishOptions): Promise<PublishResult>;
  /** Present in processes that run the gateway. */
  http?: HttpRouter;
  /** Keeps a message that can never become an event (with its payload and the reason) where operators see it. */
  deadLetter?(entry: PoisonEntry): Promise<void>;
}

export interface PoisonEntry {
  connector: string;
  /** The message's id upstream. */
  id: string;
  payload: string;
  reason: string;
}

export interface InboundConnector {
  start(io: InboundIO): Promise<void>;
  /** Idempotent: stops taking new work and finishes what is in flight. */
  close(): Promise<void>;
}

export interface OutboundConnector<Api extends object = object> {
  /** What functions call as `ctx.connectors.<name>`. */
  api: Api;
  close(): Promise<void>;
}

export interface ConfigProblem {
  /** Path inside the connector's `config:` block, e.g. ['verify', 'secret']. */
  path: (string | number)[];
  message: string;
}

export interface ConnectorDefinition<S extends TSchema = TSchema, Api extends object = object> {
  /** `type:` in YAML. */
  type: string;
  description: string;
  /** One source for runtime validation, the TypeScript type, the docs and the published JSON schema. */
  configSchema: S;
  /** Checks the schema cannot express; each problem is reported with its line in the YAML. */
  check?(config: Static<S>): ConfigProblem[];
  inbound?(ctx: ConnectorContext<Static<S>>): InboundConnector;
  outbound?(ctx: ConnectorContext<Static<S>>): OutboundConnector<Api>;
}

export function defineConnector<S extends TSchema, Api extends object = object>(
  definition: ConnectorDefinition<S, Api>,
): ConnectorDefinition<S, Api> {
  return definition;
}
