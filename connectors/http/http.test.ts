/** The HTTP outbound connector against a local recording server, and its SSRF guard. */
import definition, { createHttpClient, OutboundHttpError, type HttpConfig } from './index.js';
import { createOutboundAgent, isPublicAddress } from '../../src/net/outbound.js';
import { SwitchboardError } from '../../src/errors.js';
import { captureLogs, startRecorder, type Recorder } from '../../test/helpers/index.js';

describe('http connector', () => {
  let recorder: Recorder;
  const agent = createOutboundAgent({ allowPrivateNetworks: true });
  beforeAll(async () => {
    recorder = await startRecorder();
  });
  afterAll(async () => {
    await recorder.close();
    await agent.close();
  });
  beforeEach(() => {
    recorder.requests.length = 0;
    recorder.respond = () => ({ status: 200, body: { ok: true } });
  });

  const client = (extra: Partial<HttpConfig> = {}) =>
    createHttpClient({ baseUrl: recorder.url + '/api/', timeout: '2s', allowPrivateNetworks: true, ...extra }, agent);

  test('sends method, path, query, default headers and a JSON body; parses a JSON answer', async () => {
    recorder.respond = () => ({ status: 201, body: { created: 7 } });
    const res = await client({ headers: { 'X-Team': 'core' } }).request({ method: 'post', path: '/items', query: { dry: true, n: 2 }, json: { name: 'a' } });
    expect(res).toMatchObject({ status: 201, data: { created: 7 } });
    const [req] = recorder.requests;
    expect(req).toMatchObject({ method: 'POST', url: '/api/items?dry=true&n=2', json: { name: 'a' } });
    expect(req!.headers).toMatchObject({ 'x-team': 'core', 'content-type': 'application/json' });
  });

  test.each([
    [{ type: 'bearer', token: 'tok-123' }, 'authorization', 'Bearer tok-123'],
    [{ type: 'basic', username: 'ann', password: 'pw-456' }, 'authorization', 'Basic ' + Buffer.from('ann:pw-456').toString('base64')],
    [{ type: 'apiKey', header: 'X-Api-Key', value: 'key-789' }, 'x-api-key', 'key-789'],
  ] as const)('auth %j', async (auth, header, expected) => {
    await client({ auth: { ...auth } }).request({ path: '/me' });
    expect(recorder.requests[0]!.headers[header]).toBe(expected);
  });

  test('429 and 5xx are retried, after Retry-After when given', async () => {
    let calls = 0;
    recorder.respond = () => (++calls === 1 ? { status: 429, body: {}, headers: { 'retry-after': '1' } } : calls === 2 ? { status: 503, body: {} } : { status: 200, body: { ok: 3 } });
    const started = Date.now();
    const res = await client({ retries: 2 }).request({ path: '/flaky' });
    expect(res.data).toEqual({ ok: 3 });
    expect(calls).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  test('an error status throws with the status and whether it is worth retrying', async () => {
    recorder.respond = () => ({ status: 429, body: { slow: 'down' } });
    const err = (await client().request({ path: '/x' }).catch((e: unknown) => e)) as OutboundHttpError;
    expect(err).toBeInstanceOf(OutboundHttpError);
    expect(err).toMatchObject({ code: 'SWB_ERR_OUTBOUND_HTTP', status: 429, retryable: true, message: `GET ${recorder.url}/api/x answered 429` });
    recorder.respond = () => ({ status: 404 });
    expect(await client().request({ path: '/x' }).catch((e: OutboundHttpError) => e.retryable)).toBe(false);
    expect((await client().request({ path: '/x', throwOnError: false })).status).toBe(404);
  });

  test('a backend slower than the timeout fails with a timeout error', async () => {
    const slow = await startSlowServer();
    try {
      const c = createHttpClient({ baseUrl: slow.url, timeout: '100ms', allowPrivateNetworks: true }, agent);
      await expect(c.request({ path: '/' })).rejects.toMatchObject({ code: 'SWB_ERR_OUTBOUND_TIMEOUT' });
    } finally {
      await slow.close();
    }
  });

  test('by default, private, loopback and metadata addresses are refused before any connection', async () => {
    const { log } = captureLogs();
    const outbound = definition.outbound!({ name: 'api', config: { baseUrl: recorder.url, timeout: '2s', allowPrivateNetworks: false, retries: 0, maxRetryDelay: '1s' }, log, signal: new AbortController().signal });
    const api = outbound.api as ReturnType<typeof createHttpClient>;
    try {
      const err = await api.request({ path: '/' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SwitchboardError);
      expect(err).toMatchObject({ code: 'SWB_ERR_OUTBOUND_BLOCKED' });
      const viaName = createHttpClient({ baseUrl: `http://localhost:${new URL(recorder.url).port}`, timeout: '2s', allowPrivateNetworks: false }, createOutboundAgent({ allowPrivateNetworks: false }));
      await expect(viaName.request({ path: '/' })).rejects.toMatchObject({ code: 'SWB_ERR_OUTBOUND_BLOCKED' });
      expect(recorder.requests).toHaveLength(0);
    } finally {
      await outbound.close();
    }
  });

  test.each([
    ['169.254.169.254', false],
    ['10.1.2.3', false],
    ['172.16.0.1', false],
    ['192.168.1.1', false],
    ['127.0.0.1', false],
    ['0.0.0.0', false],
    ['100.64.0.1', false],
    ['::1', false],
    ['fc00::1', false],
    ['fe80::1', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['8.8.8.8', true],
    ['2606:4700:4700::1111', true],
    ['::ffff:8.8.8.8', true],
    ['not-an-ip', false],
  ])('isPublicAddress(%s) is %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });

  test('config checks name the missing auth field', () => {
    expect(definition.check!({ baseUrl: 'https://x', timeout: '1s', allowPrivateNetworks: false, retries: 0, maxRetryDelay: '1s', auth: { type: 'basic', username: 'u' } })).toEqual([
      { path: ['auth'], message: 'missing required field "password" for auth type basic' },
    ]);
  });
});

async function startSlowServer() {
  const http = await import('node:http');
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer(() => {
    /* never answers */
  });
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as import('node:net').AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
