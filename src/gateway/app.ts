/**
 * The HTTP gateway. Connectors mount routes through an in-process table rather than Fastify's
 * router, so routes can be added and removed while serving (config reload) and a lookup stays O(1)
 * however many connectors there are. Bodies stay raw bytes so signatures are checked on them.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
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

declare module 'fastify' {
  interface FastifyRequest {
    connectorRoute: HttpRoute | undefined;
  }
}

const routeKey = (method: string, path: string) => `${method} ${path}`;

export function buildGateway(options: GatewayOptions): Gateway {
  const routes = new Map<string, HttpRoute>();
  const retryAfter = String(options.retryAfterSeconds ?? 5);
  const app = Fastify({
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

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
    const connector = request.connectorRoute?.connector;
    if (connector && options.metrics) {
      const reason = err instanceof SwitchboardError ? err.code : (err.statusCode ?? 500) === 413 ? 'SWB_ERR_HTTP_BODY_TOO_LARGE' : (err.statusCode ?? 500) < 500 ? 'SWB_ERR_HTTP_REQUEST' : 'SWB_ERR_INTERNAL';
      options.metrics.onRejected(connector, reason);
    }
    if (err instanceof HttpError) {
      return reply.code(err.status).headers(err.headers).send(errorBody(err.code, err.message));
    }
    if (err instanceof BackpressureError) {
      request.log.warn({ functions: err.functions, path: request.url }, 'event refused: backpressure');
      return reply.code(503).header('retry-after', retryAfter).send(errorBody(err.code, 'the event bus is over capacity; retry later'));
    }
    if (err instanceof BusUnavailableError) {
      request.log.warn({ err: err.message, path: request.url }, 'event refused: bus unavailable');
      return reply.code(503).header('retry-after', retryAfter).send(errorBody(err.code, 'the event bus is unavailable; retry later'));
    }
    const status = err.statusCode ?? 500;
    if (status === 413) {
      return reply.code(413).send(errorBody('SWB_ERR_HTTP_BODY_TOO_LARGE', err.message));
    }
    if (status < 500) return reply.code(status).send(errorBody('SWB_ERR_HTTP_REQUEST', err.message));
    request.log.error({ err }, 'unhandled error');
    return reply.code(500).send(errorBody('SWB_ERR_INTERNAL', 'internal error'));
  });

  app.register(async (connectorScope) => {
    connectorScope.decorateRequest('connectorRoute', undefined);
    connectorScope.removeAllContentTypeParsers();
    connectorScope.addContentTypeParser('*', (request, payload, done) => {
      const limit = request.connectorRoute?.bodyLimit ?? options.bodyLimit;
      readLimited(request, payload, limit).then((body) => done(null, body), (err: Error) => done(err, undefined));
    });
    // Fastify calls no parser for a body without content-type; raw bytes are still wanted.
    connectorScope.addHook('onRequest', async (request) => {
      const path = request.url.split('?', 1)[0]!;
      const route = routes.get(routeKey(request.method, path));
      if (!route) {
        throw new HttpError(404, 'SWB_ERR_HTTP_NOT_FOUND', `no connector listens on ${request.method} ${path}`);
      }
      if (gateway.draining) {
        throw new HttpError(503, 'SWB_ERR_BUS_UNAVAILABLE', 'the gateway is shutting down; retry later', { 'retry-after': retryAfter });
      }
      request.connectorRoute = route;
    });
    connectorScope.route({
      method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      url: '/*',
      handler: async (request, reply) => {
        const route = request.connectorRoute!;
        const response = await route.handle({
          method: request.method,
          path: request.url.split('?', 1)[0]!,
          url: request.url,
          headers: request.headers,
          query: request.query as Record<string, string | string[] | undefined>,
          rawBody: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
          ip: request.ip,
        });
        reply.code(response.status);
        if (response.headers) reply.headers(response.headers);
        return reply.send(response.body ?? '');
      },
    });
  });

  return gateway;
}

function readLimited(request: FastifyRequest, payload: NodeJS.ReadableStream, limit: number): Promise<Buffer> {
  const tooLarge = () => new HttpError(413, 'SWB_ERR_HTTP_BODY_TOO_LARGE', `request body exceeds the limit of ${limit} bytes`);
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    payload.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    payload.on('end', () => !failed && resolve(Buffer.concat(chunks, size)));
    payload.on('error', (err) => !failed && reject(err));
  });
}
