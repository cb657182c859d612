/** The gateway's direct connector path over real sockets: answers, body limits, errors, draining. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BackpressureError } from '../src/bus/bus.js';
import { buildGateway, type Gateway } from '../src/gateway/app.js';
import { captureLogs } from './helpers/index.js';

describe('gateway, connector routes over HTTP', () => {
  let gateway: Gateway;
  let base: string;
  const rejected: [string, string][] = [];
  const received: { rawBody: Buffer; query: unknown; method: string }[] = [];

  beforeAll(async () => {
    gateway = buildGateway({
      log: captureLogs().log,
      bodyLimit: 1024,
      isReady: async () => true,
      metrics: { onRejected: (connector, reason) => void rejected.push([connector, reason]), render: async () => ({ contentType: 'text/plain', body: '' }) },
    });
    gateway.router.route({
      connector: 'echo',
      method: 'POST',
      path: '/hooks/echo',
      bodyLimit: 16,
      handle: async (request) => {
        received.push({ rawBody: request.rawBody, query: request.query, method: request.method });
        return { status: 202, headers: { 'X-Event-Id': 'e1' }, body: { bytes: request.rawBody.length } };
      },
    });
    gateway.router.route({ connector: 'text', method: 'GET', path: '/hooks/text', handle: async () => ({ status: 200, body: 'challenge-42' }) });
    gateway.router.route({
      connector: 'full',
      method: 'POST',
      path: '/hooks/full',
      handle: async () => {
        throw new BackpressureError(['slow']);
      },
    });
    await gateway.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(gateway.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await gateway.app.close();
  });

  test('a JSON answer with its headers, the raw body byte for byte, the query parsed', async () => {
    const body = Buffer.from([0x7b, 0x7d, 0xff, 0x00]);
    const res = await fetch(`${base}/hooks/echo?a=1&a=2&b=x`, { method: 'POST', body });
    expect(res.status).toBe(202);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('x-event-id')).toBe('e1');
    expect(await res.json()).toEqual({ bytes: 4 });
    expect(received.at(-1)!.rawBody.equals(body)).toBe(true);
    expect(received.at(-1)!.query).toEqual({ a: ['1', '2'], b: 'x' });
  });

  test('a string answer is text', async () => {
    const res = await fetch(`${base}/hooks/text`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await res.text()).toBe('challenge-42');
  });

  test('a body over the route’s limit gets 413, declared or streamed, and the connection stays usable', async () => {
    const before = received.length;
    const declared = await fetch(`${base}/hooks/echo`, { method: 'POST', body: 'x'.repeat(17) });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual({ error: 'SWB_ERR_HTTP_BODY_TOO_LARGE', message: 'request body exceeds the limit of 16 bytes' });

    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${base}/hooks/echo`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on('error', reject);
      for (let i = 0; i < 4; i++) req.write('12345678');
      req.end();
    });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body)).toMatchObject({ error: 'SWB_ERR_HTTP_BODY_TOO_LARGE' });
    expect(received.length).toBe(before);
    expect(rejected).toContainEqual(['echo', 'SWB_ERR_HTTP_BODY_TOO_LARGE']);
    expect((await fetch(`${base}/hooks/echo`, { method: 'POST', body: 'ok' })).status).toBe(202);
  });

  test('no route: 404 in the same error shape; a full queue: 503 with Retry-After, counted for its connector', async () => {
    const missing = await fetch(`${base}/hooks/nobody`, { method: 'POST', body: '{}' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'SWB_ERR_HTTP_NOT_FOUND', message: 'no connector listens on POST /hooks/nobody' });

    const full = await fetch(`${base}/hooks/full`, { method: 'POST', body: '{}' });
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('5');
    expect(await full.json()).toEqual({ error: 'SWB_ERR_BUS_BACKPRESSURE', message: 'the event bus is over capacity; retry later' });
    expect(rejected).toContainEqual(['full', 'SWB_ERR_BUS_BACKPRESSURE']);
  });

  test('while draining, connector routes answer 503 with Retry-After and never reach the connector', async () => {
    const before = received.length;
    gateway.draining = true;
    try {
      const res = await fetch(`${base}/hooks/echo`, { method: 'POST', body: '{}' });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(await res.json()).toMatchObject({ error: 'SWB_ERR_BUS_UNAVAILABLE' });
      expect(received.length).toBe(before);
    } finally {
      gateway.draining = false;
    }
  });
});
