/**
 * The HTTP gateway. Connectors mount routes through an in-process table rather than Fastify's
 * router, so routes can be added and removed while serving (config reload) and a lookup stays O(1)
 * however many connectors there are. Bodies stay raw bytes so signatures are checked on them.
 *
 * Connector requests are the hot path: the HTTP server hands them straight to `serveConnector`
 * (raw body, the connector's answer, errors as JSON) without Fastify's per-request lifecycle, which
 * costs about as much CPU as the rest of the ingest. Fastify serves everything else (health,
 * readiness, metrics, 404s) and `inject`, which reaches the same `serveConnector`.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import { BackpressureError, BusUnavailableError } from '../bus/bus.js';
import type { HttpRoute, HttpRouter } from '../registry/contract.js';
import { SwitchboardError } from '../errors.js';
import { errorBody, HttpError } from './http-error.js';

export interface GatewayOptions {
  log: Logger;
  /** Default body limit for routes that set none. */
  bodyLimit: number;
  /** Readiness: Redis reachable and connectors started. */
  isReady(): Promise<boolean>;
  /** Seconds a sender should wait before retrying after a 503. */
  retryAfterSeconds?: number;
  /** Whole-request deadline, against slow-loris clients. */
  requestTimeoutMs?: number;
  /** Serves /metrics and counts refusals when given. */
  metrics?: { onRejected(connector: string, reason: string): void; render(): Promise<{ contentType: string; body: string }> };
}

export interface Gateway {
  app: FastifyInstance;
  router: HttpRouter;
  /** Once set, readiness fails and new connector requests get 503 (graceful shutdown). */
  draining: boolean;
}

const routeKey = (method: string, path: string) => `${method} ${path}`;

export function buildGateway(options: GatewayOptions): Gateway {
  const routes = new Map<string, HttpRoute>();
  const retryAfter = String(options.retryAfterSeconds ?? 5);
  /** The request's URL split once, and the route its method and path name (if any). */
  const match = (request: IncomingMessage): Match => {
    const url = request.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    return { url, path, search: q === -1 ? undefined : url.slice(q + 1), route: routes.get(routeKey(request.method ?? 'GET', path)) };
  };

  /** An error as the sender sees it: status, headers and a JSON body with a code and a message. */
  const errorAnswer = (err: Error & { statusCode?: number }, path: string, connector: string | undefined): Answer => {
    if (connector && options.metrics) {
      const reason = err instanceof SwitchboardError ? err.code : (err.statusCode ?? 500) === 413 ? 'SWB_ERR_HTTP_BODY_TOO_LARGE' : (err.statusCode ?? 500) < 500 ? 'SWB_ERR_HTTP_REQUEST' : 'SWB_ERR_INTERNAL';
      options.metrics.onRejected(connector, reason);
    }
    if (err instanceof HttpError) return { status: err.status, headers: err.headers, body: errorBody(err.code, err.message) };
    if (err instanceof BackpressureError) {
      options.log.warn({ functions: err.functions, path }, 'event refused: backpressure');
      return { status: 503, headers: { 'retry-after': retryAfter }, body: errorBody(err.code, 'the event bus is over capacity; retry later') };
    }
    if (err instanceof BusUnavailableError) {
      options.log.warn({ err: err.message, path }, 'event refused: bus unavailable');
      return { status: 503, headers: { 'retry-after': retryAfter }, body: errorBody(err.code, 'the event bus is unavailable; retry later') };
    }
    const status = err.statusCode ?? 500;
    if (status === 413) return { status, body: errorBody('SWB_ERR_HTTP_BODY_TOO_LARGE', err.message) };
    if (status < 500) return { status, body: errorBody('SWB_ERR_HTTP_REQUEST', err.message) };
    options.log.error({ err, path }, 'unhandled error');
    return { status: 500, body: errorBody('SWB_ERR_INTERNAL', 'internal error') };
  };

  const serveConnector = async (route: HttpRoute, { url, path, search }: Match, request: IncomingMessage, response: ServerResponse): Promise<void> => {
    let answer: Answer;
    try {
      if (gateway.draining) throw new HttpError(503, 'SWB_ERR_BUS_UNAVAILABLE', 'the gateway is shutting down; retry later', { 'retry-after': retryAfter });
      const rawBody = await readLimited(request, route.bodyLimit ?? options.bodyLimit);
      answer = await route.handle({
        method: request.method ?? 'GET',
        path,
        url,
        headers: request.headers,
        query: search === undefined ? {} : { ...parseQuery(search) },
        rawBody,
        ip: request.socket?.remoteAddress ?? '',
      });
    } catch (err) {
      answer = errorAnswer(err as Error, path, route.connector);
    }
    writeAnswer(response, answer);
  };

  const app = Fastify({
    // Connector requests skip Fastify; the rest go to its handler.
    serverFactory: (fastifyHandler, serverOptions: FastifyServerOptions & { http?: http.ServerOptions }) => {
      const server = http.createServer(serverOptions.http ?? {}, (request, response) => {
        const matched = match(request);
        if (matched.route) void serveConnector(matched.route, matched, request, response);
        else fastifyHandler(request, response);
      });
      server.keepAliveTimeout = serverOptions.keepAliveTimeout ?? 65_000;
      server.requestTimeout = serverOptions.requestTimeout ?? 0;
      server.setTimeout(serverOptions.connectionTimeout ?? 0);
      return server;
    },
    loggerInstance: options.log as FastifyBaseLogger,
    // Connectors log one line per accepted or rejected event; per-request lines would double that.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    // Node enforces these only when given at server creation (headers must not outlast the request),
    // and checks them every connectionsCheckingInterval (30 s by default).
    http: {
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      headersTimeout: options.requestTimeoutMs ?? 30_000,
      connectionsCheckingInterval: Math.min(1000, options.requestTimeoutMs ?? 30_000),
    },
    // Longer than common load balancers' idle timeouts (60 s), so they close first.
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
  }) as unknown as FastifyInstance;
  const gateway: Gateway = {
    app,
    draining: false,
    router: {
      route(route) {
        const key = routeKey(route.method, route.path);
        if (routes.has(key)) throw new Error(`route ${key} is already mounted by another connector`);
        routes.set(key, route);
        return () => {
          if (routes.get(key) === route) routes.delete(key);
        };
      },
    },
  };

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = !gateway.draining && (await options.isReady());
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });

  if (options.metrics) {
    const metrics = options.metrics;
    app.get('/metrics', async (_request, reply) => {
      const { contentType, body } = await metrics.render();
      return reply.header('content-type', contentType).send(body);
    });
  }

  app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    const answer = errorAnswer(err, request.url, undefined);
    return reply.code(answer.status).headers(answer.headers ?? {}).send(answer.body);
  });

  // Unknown paths answer 404 in the same JSON shape; `inject` (tests) reaches connector routes here.
  app.register(async (connectorScope) => {
    connectorScope.removeAllContentTypeParsers();
    connectorScope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
    connectorScope.addHook('onRequest', async (request, reply) => {
      const matched = match(request.raw);
      if (!matched.route) throw new HttpError(404, 'SWB_ERR_HTTP_NOT_FOUND', `no connector listens on ${request.method} ${matched.path}`);
      reply.hijack();
      await serveConnector(matched.route, matched, request.raw, reply.raw);
    });
    connectorScope.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], url: '/*', handler: async () => undefined });
  });

  return gateway;
}

interface Match {
  url: string;
  path: string;
  /** The query string without its `?`, when there is one. */
  search: string | undefined;
  route: HttpRoute | undefined;
}

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** Writes an answer as Fastify's reply.send would: objects as JSON, strings as text, buffers as bytes. */
function writeAnswer(response: ServerResponse, answer: Answer): void {
  const { status, headers, body } = answer;
  let payload: string | Buffer;
  let contentType: string;
  if (Buffer.isBuffer(body)) [payload, contentType] = [body, 'application/octet-stream'];
  else if (typeof body === 'string' || body === undefined || body === null) [payload, contentType] = [body ?? '', 'text/plain; charset=utf-8'];
  else [payload, contentType] = [JSON.stringify(body), 'application/json; charset=utf-8'];
  const out: Record<string, string | number> = { 'content-type': contentType };
  for (const name in headers) out[name.toLowerCase()] = headers[name]!;
  if (status === 204 || status === 304) payload = '';
  else out['content-length'] = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  response.writeHead(status, out);
  response.end(payload);
}

/** The raw body, refused with 413 past `limit` bytes (declared or streamed). */
function readLimited(request: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new HttpError(413, 'SWB_ERR_HTTP_BODY_TOO_LARGE', `request body exceeds the limit of ${limit} bytes`);
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    request.resume(); // drain, so the connection can carry the answer
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    request.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => !failed && resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    request.on('error', (err) => !failed && reject(err));
  });
}
