/** The admin API: refuses requests without the token, and every endpoint does what it documents. */
import { randomUUID } from 'node:crypto';
import { jest } from '@jest/globals';
import { main } from '../src/cli/main.js';
import { buildAdmin } from '../src/ops/admin.js';
import { bootSwitchboard, startRecorder, waitFor, type Recorder, type TestSwitchboard } from './helpers/index.js';

const TOKEN = 'admin-token-4b1d';

describe('admin API', () => {
  let recorder: Recorder;
  let t: TestSwitchboard;
  let admin: Awaited<ReturnType<typeof buildAdmin>>;
  beforeAll(async () => {
    recorder = await startRecorder();
    recorder.respond = (r) => (r.url === '/flaky' ? { status: 200, body: { fail: true } } : { status: 200, body: {} });
    t = await bootSwitchboard(
      `
connectors:
  - { name: open, type: webhook, config: { verify: { scheme: none }, event: { id: "{headers.x-id}" } } }
  - { name: recorder, type: http, config: { baseUrl: "${recorder.url}", allowPrivateNetworks: true } }
functions:
  - { name: good, runtime: node, module: ./functions/record.js, trigger: { connector: open, type: dev.switchboard.webhook } }
  - { name: bad, runtime: node, module: ./functions/flaky.js, trigger: { type: com.example.fragile }, retry: { attempts: 1 } }
`,
    );
    admin = await buildAdmin({ switchboard: t.sb, log: t.logs.log, auth: 'bearer', token: TOKEN, reload: async () => ({ reloaded: true }) });
  });
  afterAll(async () => {
    await admin?.close();
    await t?.close();
    await recorder?.close();
  });

  const call = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object, token = TOKEN) =>
    admin.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });

  test('refuses requests without the right token; refuses to start without one', async () => {
    expect((await admin.inject({ method: 'GET', url: '/admin/status' })).statusCode).toBe(401);
    const wrong = await call('GET', '/admin/status', undefined, 'nope');
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toEqual({ error: 'SWB_ERR_ADMIN_UNAUTHORIZED', message: 'a valid bearer token is required' });
    await expect(buildAdmin({ switchboard: t.sb, log: t.logs.log, auth: 'bearer' })).rejects.toThrow(/needs a token/);
  });

  test('status, connectors and functions', async () => {
    expect((await call('GET', '/admin/status')).json()).toEqual({ redis: 'up', connectors: 2, functions: 2 });
    expect((await call('GET', '/admin/connectors')).json()).toEqual([
      { name: 'open', type: 'webhook', inbound: true, outbound: false, state: 'running', events: { received: 0, accepted: 0, rejected: 0 } },
      { name: 'recorder', type: 'http', inbound: false, outbound: true, state: 'running', events: { received: 0, accepted: 0, rejected: 0 } },
    ]);
    const fns = (await call('GET', '/admin/functions')).json();
    expect(fns.map((f: { name: string; queue: string; paused: boolean }) => [f.name, f.queue, f.paused])).toEqual([
      ['good', 'fn.good', false],
      ['bad', 'fn.bad', false],
    ]);
  });

  test("an event's journal: arrival, routing and the attempt", async () => {
    const id = `evt-${randomUUID()}`;
    expect((await fetch(`${t.sb.url}/hooks/open`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-id': id }, body: '{}' })).status).toBe(202);
    const journal = await waitFor(async () => {
      const res = await call('GET', `/admin/events/${id}`);
      return res.statusCode === 200 && res.json().journal.some((e: { kind: string }) => e.kind === 'attempt') && res.json().journal;
    }, 'the journal');
    expect(journal.map((e: { kind: string }) => e.kind)).toEqual(['received', 'routed', 'attempt']);
    expect(journal[0]).toMatchObject({ connector: 'open', type: 'dev.switchboard.webhook' });
    expect(journal[1]).toMatchObject({ to: ['good'] });
    expect(journal[2]).toMatchObject({ function: 'good', attempt: 1, outcome: 'succeeded' });
    expect((await call('GET', '/admin/events?limit=5')).json().map((e: { id: string }) => e.id)).toContain(id);
    expect((await call('GET', '/admin/events/never-seen')).statusCode).toBe(404);
  });

  test('dead letters: list, inspect, replay and delete', async () => {
    const id = `fragile-${randomUUID()}`;
    await t.sb.bus.publish([{ specversion: '1.0', id, source: '/admin-test', type: 'com.example.fragile' }]);
    const [letter] = await waitFor(async () => {
      const list = (await call('GET', '/admin/dead-letters?function=bad')).json();
      return list.length > 0 && list;
    }, 'the dead letter');
    expect(letter).toMatchObject({ function: 'bad', event: { id }, error: 'told to fail on attempt 1' });
    expect((await call('GET', `/admin/dead-letters/bad/${letter.jobId}`)).json()).toMatchObject({ jobId: letter.jobId });

    const replayed = (await call('POST', '/admin/dead-letters/replay', { function: 'bad' })).json();
    expect(replayed).toEqual({ replayed: [{ function: 'bad', jobId: letter.jobId, eventId: id }] });
    await waitFor(async () => (await call('GET', `/admin/dead-letters/bad/${letter.jobId}`)).statusCode === 200 && recorder.requests.filter((r) => r.url === '/flaky' && r.json.id === id).length === 2, 'the replay to fail again');
    await waitFor(async () => (await call('GET', `/admin/events/${id}`)).json().journal?.some((e: { kind: string }) => e.kind === 'replayed'), 'the replay in the journal');

    expect((await call('DELETE', `/admin/dead-letters/bad/${letter.jobId}`)).json()).toEqual({ deleted: `bad/${letter.jobId}` });
    expect((await call('GET', `/admin/dead-letters/bad/${letter.jobId}`)).statusCode).toBe(404);
    expect((await call('DELETE', `/admin/dead-letters/bad/${letter.jobId}`)).statusCode).toBe(404);
  });

  test('pause and resume a function and a connector', async () => {
    expect((await call('POST', '/admin/functions/good/pause')).json()).toEqual({ name: 'good', paused: true });
    expect(await t.sb.bus.queue('good')!.isPaused()).toBe(true);
    expect((await call('POST', '/admin/functions/good/resume')).json()).toEqual({ name: 'good', paused: false });
    expect((await call('POST', '/admin/functions/nope/pause')).statusCode).toBe(404);

    await call('POST', '/admin/connectors/open/pause');
    expect((await fetch(`${t.sb.url}/hooks/open`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-id': 'p1' }, body: '{}' })).status).toBe(404);
    expect((await call('GET', '/admin/connectors')).json()[0].state).toBe('paused');
    await call('POST', '/admin/connectors/open/resume');
    expect((await fetch(`${t.sb.url}/hooks/open`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-id': 'p2' }, body: '{}' })).status).toBe(202);
  });

  test('the CLI over the admin API: status, events get, dlq list', async () => {
    const address = await admin.listen({ host: '127.0.0.1', port: 0 });
    const out: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((m: string) => void out.push(m));
    try {
      expect(await main(['status', '--url', address, '--token', TOKEN])).toBe(0);
      expect(JSON.parse(out.pop()!)).toMatchObject({ status: { redis: 'up' }, connectors: [{ name: 'open' }, { name: 'recorder' }] });
      const [recent] = (await call('GET', '/admin/events?limit=1')).json();
      expect(await main(['events', 'get', recent.id, '--url', address, '--token', TOKEN])).toBe(0);
      expect(JSON.parse(out.pop()!)).toMatchObject({ id: recent.id, journal: expect.arrayContaining([expect.objectContaining({ kind: 'received' }), expect.objectContaining({ kind: 'routed' })]) });
      expect(await main(['dlq', 'list', '--url', address, '--token', TOKEN, '--function', 'bad'])).toBe(0);
      expect(Array.isArray(JSON.parse(out.pop()!))).toBe(true);
      expect(await main(['status', '--url', address, '--token', 'wrong'])).toBe(1);
    } finally {
      log.mockRestore();
    }
  });

  test("BullMQ's queue view, behind the token (header or the dashboard's cookie)", async () => {
    expect((await admin.inject({ method: 'GET', url: '/admin/queues/api/queues' })).statusCode).toBe(401);
    const viaCookie = await admin.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie: `other=1; switchboard_admin=${TOKEN}` } });
    expect(viaCookie.statusCode).toBe(200);
    expect(viaCookie.json().queues.map((q: { name: string }) => q.name).sort()).toEqual(['fn.bad', 'fn.good']);
    expect((await admin.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie: 'switchboard_admin=wrong' } })).statusCode).toBe(401);
    expect((await call('GET', '/admin/queues/')).statusCode).toBe(200);
  });

  test('reload, and an OpenAPI description generated from the routes', async () => {
    expect((await call('POST', '/admin/reload')).json()).toEqual({ report: { reloaded: true } });
    const spec = (await admin.inject({ method: 'GET', url: '/admin/openapi.json' })).json();
    expect(spec.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/admin/status', '/admin/events/{id}', '/admin/dead-letters/replay', '/admin/functions/{name}/pause']));
  });
});
