/** Outbound calls to any HTTP API: base URL, default headers, auth by secret reference, timeout, SSRF guard. */
import { Type, type Static } from '@sinclair/typebox';
import type { Agent } from 'undici';
import { defineConnector, type ConfigProblem } from '../../src/registry/contract.js';
import { SecretString, StringEnum } from '../../src/config/schema.js';
import { Duration, toMilliseconds } from '../../src/config/units.js';
import { SwitchboardError } from '../../src/errors.js';
import { context } from '@opentelemetry/api';
import { createOutboundAgent, undici, unwrapFetchError } from '../../src/net/outbound.js';
import { injectTraceHeaders, inSpan, SpanKind } from '../../src/ops/tracing.js';

export const HttpConfigSchema = Type.Object(
  {
    baseUrl: Type.String({ pattern: '^https?://[^\\s]+$', description: 'every request path is relative to it' }),
    headers: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'sent with every request' })),
    auth: Type.Optional(
      Type.Object(
        {
          type: StringEnum(['bearer', 'basic', 'apiKey']),
          token: Type.Optional(SecretString({ description: 'bearer' })),
          username: Type.Optional(Type.String({ description: 'basic' })),
          password: Type.Optional(SecretString({ description: 'basic' })),
          header: Type.Optional(Type.String({ minLength: 1, description: 'apiKey: header name, e.g. X-Api-Key' })),
          value: Type.Optional(SecretString({ description: 'apiKey' })),
        },
        { additionalProperties: false },
      ),
    ),
    timeout: Duration({ default: '10s', description: 'whole request, headers and body' }),
    allowPrivateNetworks: Type.Boolean({ default: false, description: 'permit private, loopback and link-local targets' }),
    retries: Type.Integer({ minimum: 0, maximum: 10, default: 2, description: 'retries on 429 and 5xx, after Retry-After when the answer gives one' }),
    maxRetryDelay: Duration({ default: '30s', description: 'longest wait between retries; a longer Retry-After fails the call (the function retries later)' }),
  },
  { additionalProperties: false },
);
export type HttpConfig = Static<typeof HttpConfigSchema>;

export interface HttpRequestOptions {
  method?: string;
  /** Appended to baseUrl. */
  path?: string;
  query?: Record<string, string | number | boolean>;
  headers?: Record<string, string>;
  /** Sent as JSON with content-type application/json. */
  json?: unknown;
  body?: string | Uint8Array;
  /** Default true: a status >= 400 throws an OutboundHttpError. */
  throwOnError?: boolean;
}

export interface HttpResponse<T = unknown> {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON when the response says JSON, otherwise text. */
  data: T;
}

export interface HttpApi {
  request<T = unknown>(options: HttpRequestOptions): Promise<HttpResponse<T>>;
}

export class OutboundHttpError extends SwitchboardError {
  constructor(
    readonly status: number,
    readonly response: HttpResponse,
    target: string,
  ) {
    super('SWB_ERR_OUTBOUND_HTTP', `${target} answered ${status}`);
  }
  /** 429 and 5xx are worth retrying; other 4xx are not. */
  get retryable(): boolean {
    return this.status === 429 || this.status >= 500;
  }
}

const REQUIRED_AUTH_FIELDS: Record<string, string[]> = { bearer: ['token'], basic: ['username', 'password'], apiKey: ['header', 'value'] };

function authHeaders(auth: HttpConfig['auth']): Record<string, string> {
  if (!auth) return {};
  switch (auth.type) {
    case 'bearer':
      return { authorization: `Bearer ${auth.token}` };
    case 'basic':
      return { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` };
    case 'apiKey':
      return { [auth.header!.toLowerCase()]: auth.value! };
  }
}

/** Milliseconds to wait before retrying, from Retry-After (seconds or an HTTP date), else exponential. */
export function retryDelay(retryAfter: string | undefined, attempt: number, now = Date.now()): number {
  if (retryAfter !== undefined) {
    if (/^\d+$/.test(retryAfter.trim())) return Number(retryAfter) * 1000;
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  return Math.min(200 * 2 ** attempt, 5000);
}

/** What a client needs: the base URL and timeout; the rest has defaults. Other connectors build on it. */
export type HttpClientOptions = Pick<HttpConfig, 'baseUrl' | 'timeout'> &
  Partial<Omit<HttpConfig, 'baseUrl' | 'timeout'>> & { countOutbound?: ((status: number | 'error') => void) | undefined };

export function createHttpClient(config: HttpClientOptions, agent: Agent): HttpApi {
  const base = config.baseUrl.replace(/\/+$/, '');
  const defaults = { ...lowerKeys(config.headers ?? {}), ...authHeaders(config.auth) };
  const timeoutMs = toMilliseconds(config.timeout);
  const retries = config.retries ?? 0;
  const maxRetryDelay = toMilliseconds(config.maxRetryDelay ?? '30s');
  const once = async <T>(url: URL, method: string, headers: Record<string, string>, body: string | Uint8Array | undefined, target: string): Promise<HttpResponse<T>> => {
    let res;
    try {
      res = await inSpan(`HTTP ${method}`, SpanKind.CLIENT, context.active(), { 'http.request.method': method, 'server.address': url.host, 'url.path': url.pathname }, async () => {
        const traced = { ...headers };
        injectTraceHeaders(traced);
        return undici().fetch(url, { method, headers: traced, body: body ?? null, dispatcher: agent, signal: AbortSignal.timeout(timeoutMs) });
      });
    } catch (err) {
      config.countOutbound?.('error');
      const cause = unwrapFetchError(err);
      if (cause instanceof SwitchboardError) throw cause;
      if ((err as Error).name === 'TimeoutError') throw new SwitchboardError('SWB_ERR_OUTBOUND_TIMEOUT', `${target} did not answer within ${timeoutMs} ms`);
      throw new Error(`${target} failed: ${(cause as Error)?.message ?? String(cause)}`, { cause: err });
    }
    config.countOutbound?.(res.status);
    const text = await res.text();
    const responseHeaders = Object.fromEntries(res.headers.entries());
    const isJson = /[/+]json\b/.test(responseHeaders['content-type'] ?? '');
    let data: unknown = text;
    if (isJson && text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    return { status: res.status, headers: responseHeaders, data: data as T };
  };
  return {
    async request<T>(options: HttpRequestOptions): Promise<HttpResponse<T>> {
      const url = new URL(base + (options.path ?? ''));
      for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, String(v));
      const headers: Record<string, string> = { ...defaults, ...lowerKeys(options.headers ?? {}) };
      let body = options.body;
      if (options.json !== undefined) {
        body = JSON.stringify(options.json);
        headers['content-type'] ??= 'application/json';
      }
      const method = (options.method ?? (body === undefined ? 'GET' : 'POST')).toUpperCase();
      const target = `${method} ${url.origin}${url.pathname}`;
      for (let attempt = 0; ; attempt++) {
        const response = await once<T>(url, method, headers, body, target);
        const retryable = response.status === 429 || response.status >= 500;
        if (retryable && attempt < retries) {
          const wait = retryDelay(response.headers['retry-after'], attempt);
          if (wait <= maxRetryDelay) {
            await new Promise((r) => setTimeout(r, wait));
            continue;
          }
        }
        if (response.status >= 400 && options.throwOnError !== false) throw new OutboundHttpError(response.status, response as HttpResponse, target);
        return response;
      }
    },
  };
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

export default defineConnector({
  type: 'http',
  description: 'Calls any HTTP API from functions as ctx.connectors.<name>.request({ method, path, json }).',
  configSchema: HttpConfigSchema,

  check(config) {
    const problems: ConfigProblem[] = [];
    if (config.auth) {
      for (const field of REQUIRED_AUTH_FIELDS[config.auth.type] ?? []) {
        if (!(config.auth as Record<string, unknown>)[field]) {
          problems.push({ path: ['auth'], message: `missing required field "${field}" for auth type ${config.auth.type}` });
        }
      }
    }
    return problems;
  },

  outbound(ctx) {
    const agent = createOutboundAgent({ allowPrivateNetworks: ctx.config.allowPrivateNetworks });
    return {
      api: createHttpClient({ ...ctx.config, countOutbound: ctx.countOutbound }, agent),
      async close() {
        await agent.close();
      },
    };
  },
});
