/**
 * The admin API, on its own port under /admin, behind a bearer token (constant-time compare): state of
 * connectors and functions, event journals, dead letters (list, inspect, replay, delete), pause and
 * resume, config reload. The OpenAPI description is generated from the route schemas.
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Logger } from 'pino';
import { listDeadLetters, replayDeadLetters } from '../bus/dead-letters.js';
import { errorBody } from '../gateway/http-error.js';
import type { Switchboard } from '../switchboard.js';
import { DASHBOARD_HTML } from './dashboard-page.js';

export interface AdminOptions {
  switchboard: Switchboard;
  log: Logger;
  auth: 'bearer' | 'none';
  token?: string | undefined;
  /** Re-reads and applies the config file. */
  reload?: () => Promise<unknown>;
}

const sameLength = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

const NameParam = { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } as const;
const LetterParams = { type: 'object', required: ['function', 'jobId'], properties: { function: { type: 'string' }, jobId: { type: 'string' } } } as const;

export async function buildAdmin(options: AdminOptions): Promise<FastifyInstance> {
  if (options.auth === 'bearer' && !options.token) {
    throw new Error('the admin API needs a token (admin.token: ${env:…} or ${file:…}); set admin.auth: none only for local development');
  }
  const sb = options.switchboard;
  const app = Fastify({ loggerInstance: options.log as FastifyBaseLogger }) as unknown as FastifyInstance;
  await app.register(swagger, {
    openapi: {
      info: { title: 'Switchboard admin API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  const expected = Buffer.from(`Bearer ${options.token ?? ''}`);
  const cookieToken = (header: string | undefined) => {
    const match = /(?:^|;\s*)switchboard_admin=([^;]*)/.exec(header ?? '');
    return match ? `Bearer ${decodeURIComponent(match[1]!)}` : '';
  };
  app.addHook('onRequest', async (request, reply) => {
    // The page and the API description hold no data; every call they make carries the token.
    if (options.auth === 'none' || request.url === '/admin/openapi.json' || request.url.split('?')[0] === '/admin/ui') return;
    const given = Buffer.from(String(request.headers.authorization ?? ''));
    // The queue view is a browser app: its own requests carry the token as a SameSite cookie the dashboard sets.
    const fromCookie = request.url.startsWith('/admin/queues') ? Buffer.from(cookieToken(request.headers.cookie)) : Buffer.alloc(0);
    if (!sameLength(given, expected) && !sameLength(fromCookie, expected)) return reply.code(401).send(errorBody('SWB_ERR_ADMIN_UNAUTHORIZED', 'a valid bearer token is required'));
  });
  app.setErrorHandler((err: Error & { statusCode?: number }, _request, reply) => {
    const status = err.statusCode ?? (/^unknown /.test(err.message) ? 404 : 500);
    return reply.code(status).send(errorBody(status === 404 ? 'SWB_ERR_ADMIN_NOT_FOUND' : status < 500 ? 'SWB_ERR_HTTP_REQUEST' : 'SWB_ERR_INTERNAL', err.message));
  });

  const names = () => sb.config().functions.map((f) => f.name);
  const queueOf = (name: string) => {
    const queue = sb.bus.queue(name);
    if (!queue) throw Object.assign(new Error(`unknown function or route "${name}"`), { statusCode: 404 });
    return queue;
  };

  // BullMQ's own queue view (@bull-board), for the queues as BullMQ sees them.
  const board = new FastifyAdapter();
  board.setBasePath('/admin/queues');
  createBullBoard({ queues: sb.config().functions.map((f) => new BullMQAdapter(sb.bus.queue(f.name)!)), serverAdapter: board });
  await app.register(board.registerPlugin(), { prefix: '/admin/queues' });

  app.get('/admin/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/admin/ui', { schema: { hide: true } }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(DASHBOARD_HTML));

  app.get('/admin/status', { schema: { summary: 'Redis reachability and counts' } }, async () => ({
    redis: (await sb.bus.ping()) ? 'up' : 'down',
    connectors: sb.connectorStates().length,
    functions: names().length,
  }));

  app.get('/admin/connectors', { schema: { summary: 'Connectors, their state, and events received, accepted and rejected since start' } }, async () => {
    const count = async (metric: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> }, name: string) =>
      (await metric.get()).values.filter((v) => v.labels.connector === name).reduce((n, v) => n + v.value, 0);
    return Promise.all(
      sb.connectorStates().map(async (c) => ({
        ...c,
        events: { received: await count(sb.metrics.eventsReceived, c.name), accepted: await count(sb.metrics.eventsAccepted, c.name), rejected: await count(sb.metrics.eventsRejected, c.name) },
      })),
    );
  });

  app.get('/admin/functions', { schema: { summary: 'Functions and routes, their queues and job counts' } }, async () =>
    Promise.all(
      sb.config().functions.map(async (f) => {
        const queue = queueOf(f.name);
        return { name: f.name, kind: f.runtime.kind === 'route' ? 'route' : 'function', runtime: f.runtime.kind, queue: f.queue, paused: await queue.isPaused(), counts: await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed') };
      }),
    ),
  );

  app.post('/admin/functions/:name/pause', { schema: { summary: 'Stop every worker taking jobs of this function', params: NameParam } }, async (request) => {
    const { name } = request.params as { name: string };
    await queueOf(name).pause();
    return { name, paused: true };
  });
  app.post('/admin/functions/:name/resume', { schema: { summary: 'Let workers take jobs of this function again', params: NameParam } }, async (request) => {
    const { name } = request.params as { name: string };
    await queueOf(name).resume();
    return { name, paused: false };
  });

  app.post('/admin/connectors/:name/pause', { schema: { summary: 'Stop an inbound connector taking events', params: NameParam } }, async (request) => {
    const { name } = request.params as { name: string };
    await sb.pauseConnector(name);
    return { name, state: 'paused' };
  });
  app.post('/admin/connectors/:name/resume', { schema: { summary: 'Start a paused inbound connector again', params: NameParam } }, async (request) => {
    const { name } = request.params as { name: string };
    await sb.resumeConnector(name);
    return { name, state: 'running' };
  });

  app.get('/admin/events', { schema: { summary: 'The most recent events', querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 } } } } }, async (request) => {
    const { limit } = request.query as { limit: number };
    return (await sb.journal?.recent(limit)) ?? [];
  });
  app.get('/admin/events/:id', { schema: { summary: "An event's journal: arrival, routing, attempts, emissions", params: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } } } }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const journal = await sb.journal?.get(id);
    if (!journal) return reply.code(404).send(errorBody('SWB_ERR_ADMIN_NOT_FOUND', `no journal for event "${id}" (unknown, or past its retention)`));
    return { id, journal };
  });

  const letterFilter = { type: 'object', properties: { function: { type: 'string' }, limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 100 }, since: { type: 'string', format: 'date-time' }, until: { type: 'string', format: 'date-time' } } } as const;
  const within = (failedAt: string | undefined, since?: string, until?: string) => (!since || (failedAt ?? '') >= since) && (!until || (failedAt ?? '') <= until);

  app.get('/admin/dead-letters', { schema: { summary: 'Dead letters, newest first', querystring: letterFilter } }, async (request) => {
    const q = request.query as { function?: string; limit: number; since?: string; until?: string };
    const letters = await listDeadLetters(sb.bus, names(), { limit: q.limit, ...(q.function ? { functions: [q.function] } : {}) });
    return letters.filter((l) => within(l.failedAt, q.since, q.until));
  });
  app.get('/admin/dead-letters/:function/:jobId', { schema: { summary: 'One dead letter with its event and error', params: LetterParams } }, async (request, reply) => {
    const { function: fn, jobId } = request.params as { function: string; jobId: string };
    const [letter] = await listDeadLetters(sb.bus, names(), { functions: [fn], jobId });
    if (!letter) return reply.code(404).send(errorBody('SWB_ERR_ADMIN_NOT_FOUND', `no dead letter ${fn}/${jobId}`));
    return letter;
  });
  app.post('/admin/dead-letters/replay', { schema: { summary: 'Replay one dead letter, or all matching a filter or time range', body: { type: 'object', properties: { function: { type: 'string' }, jobId: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' } } } } }, async (request) => {
    const b = (request.body ?? {}) as { function?: string; jobId?: string; since?: string; until?: string };
    if (b.jobId && !b.function) throw Object.assign(new Error('jobId needs function (job ids are per function)'), { statusCode: 400 });
    const candidates = await listDeadLetters(sb.bus, names(), { limit: 10_000, ...(b.function ? { functions: [b.function] } : {}), ...(b.jobId ? { jobId: b.jobId } : {}) });
    const chosen = candidates.filter((l) => within(l.failedAt, b.since, b.until));
    for (const letter of chosen) {
      await replayDeadLetters(sb.bus, names(), { functions: [letter.function], jobId: letter.jobId });
      sb.journal?.record(letter.event.id, { kind: 'replayed', function: letter.function });
    }
    return { replayed: chosen.map((l) => ({ function: l.function, jobId: l.jobId, eventId: l.event.id })) };
  });
  app.delete('/admin/dead-letters/:function/:jobId', { schema: { summary: 'Delete a dead letter', params: LetterParams } }, async (request, reply) => {
    const { function: fn, jobId } = request.params as { function: string; jobId: string };
    const job = await queueOf(fn).getJob(jobId);
    if (!job || !(await job.isFailed())) return reply.code(404).send(errorBody('SWB_ERR_ADMIN_NOT_FOUND', `no dead letter ${fn}/${jobId}`));
    await job.remove();
    return { deleted: `${fn}/${jobId}` };
  });

  app.post('/admin/reload', { schema: { summary: 'Re-read and apply the config file' } }, async (_request, reply) => {
    if (!options.reload) return reply.code(409).send(errorBody('SWB_ERR_HTTP_REQUEST', 'this process was not started from a config file'));
    return { report: await options.reload() };
  });

  await app.ready();
  return app;
}
