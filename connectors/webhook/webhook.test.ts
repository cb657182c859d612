/** The webhook connector through the gateway (inject), with the bus on real Redis. */
import { createHash, createHmac } from 'node:crypto';
import type { CloudEvent } from '../../src/events/cloudevent.js';
import { bootSwitchboard, type TestSwitchboard } from '../../test/helpers/index.js';

const SECRET = 'webhook-test-secret-abcdef';

const YAML = `
gateway:
  bodyLimit: 4kb
connectors:
  - name: github
    type: webhook
    config:
      secret: \${env:HOOK_SECRET}
      verify:
        scheme: github
      event:
        type: com.github.{headers.x-github-event}
        source: https://github.com/{body.repository.full_name}
        id: "{headers.x-github-delivery}"
  - name: custom
    type: webhook
    config:
      path: /in/custom
      bodyLimit: 64b
      secret: \${env:HOOK_SECRET}
      verify:
        scheme: hmac
        header: X-Signature
        algorithm: sha512
        encoding: base64
        prefix: "v1="
      event:
        type: com.example.{query.kind}
        subject: "{body.order.id}"
  - name: open
    type: webhook
    config:
      verify: { scheme: none }
functions:
  - name: sink
    runtime: node
    module: ./functions/record.js
    trigger: { source: { prefix: "" } }
`;

describe('webhook connector', () => {
  let t: TestSwitchboard;
  beforeAll(async () => {
    t = await bootSwitchboard(YAML, { worker: false, listen: false, env: { HOOK_SECRET: SECRET } });
  });
  afterAll(() => t?.close());

  const queue = () => t.sb.bus.queue('sink')!;
  async function lastEvent(): Promise<CloudEvent> {
    const jobs = await queue().getJobs(['waiting'], 0, -1, true);
    return jobs[jobs.length - 1]!.data as CloudEvent;
  }
  const inject = (opts: { url: string; headers?: Record<string, string>; payload?: string | Buffer }) =>
    t.sb.gateway!.app.inject({ method: 'POST', ...opts });

  const sign = (body: string) => 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex');

  test('GitHub scheme: a valid signature is accepted with 202 and the mapped event is on the bus', async () => {
    const body = JSON.stringify({ action: 'opened', repository: { full_name: 'octo/repo' } });
    const res = await inject({
      url: '/hooks/github',
      headers: { 'content-type': 'application/json', 'x-github-event': 'issues', 'x-github-delivery': 'd-1', 'x-hub-signature-256': sign(body) },
      payload: body,
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ id: 'd-1', status: 'accepted' });
    expect(res.headers['switchboard-event-id']).toBe('d-1');
    expect(await lastEvent()).toMatchObject({
      id: 'd-1',
      type: 'com.github.issues',
      source: 'https://github.com/octo/repo',
      connector: 'github',
      data: { action: 'opened' },
    });
  });

  test('the signature is checked on the raw bytes, not on re-serialized JSON', async () => {
    const body = '{ "repository" : {"full_name":"octo/repo"} ,"x":1.50 }';
    const headers = { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': 'd-raw', 'x-hub-signature-256': sign(body) };
    expect((await inject({ url: '/hooks/github', headers, payload: body })).statusCode).toBe(202);
    const reserialized = JSON.stringify(JSON.parse(body));
    expect((await inject({ url: '/hooks/github', headers, payload: reserialized })).statusCode).toBe(401);
  });

  test('generic HMAC: header, algorithm, encoding and prefix are configurable; templates read query and body', async () => {
    const body = JSON.stringify({ order: { id: 'o-77' } });
    const signature = 'v1=' + createHmac('sha512', SECRET).update(body).digest('base64');
    const res = await inject({ url: '/in/custom?kind=order', headers: { 'content-type': 'application/json', 'x-signature': signature }, payload: body });
    expect(res.statusCode).toBe(202);
    const event = await lastEvent();
    expect(event).toMatchObject({ type: 'com.example.order', subject: 'o-77', source: '/switchboard/webhook/custom' });
    // No id in the request: the id is a hash of the body, so an identical resend is deduplicated.
    expect(event.id).toBe('sha256-' + createHash('sha256').update(body).digest('hex').slice(0, 40));
    const hexSig = 'v1=' + createHmac('sha512', SECRET).update(body).digest('hex');
    expect((await inject({ url: '/in/custom?kind=order', headers: { 'content-type': 'application/json', 'x-signature': hexSig }, payload: body })).statusCode).toBe(401);
  });

  test('a body over the connector limit gets 413 and nothing is enqueued', async () => {
    const before = await queue().count();
    const body = JSON.stringify({ pad: 'x'.repeat(100) });
    const signature = 'v1=' + createHmac('sha512', SECRET).update(body).digest('base64');
    const res = await inject({ url: '/in/custom?kind=big', headers: { 'content-type': 'application/json', 'x-signature': signature }, payload: body });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({ error: 'SWB_ERR_HTTP_BODY_TOO_LARGE', message: 'request body exceeds the limit of 64 bytes' });
    expect(await queue().count()).toBe(before);
  });

  test('the gateway-wide limit applies to connectors that set none', async () => {
    const res = await inject({ url: '/hooks/open', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ pad: 'x'.repeat(5000) }) });
    expect(res.statusCode).toBe(413);
  });

  test('invalid JSON gets 400 with the reason; prototype-poisoning keys are refused', async () => {
    const before = await queue().count();
    const bad = await inject({ url: '/hooks/open', headers: { 'content-type': 'application/json' }, payload: '{"a":' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'SWB_ERR_HTTP_BODY_INVALID', message: expect.stringContaining('body is not valid JSON') });
    const poisoned = await inject({ url: '/hooks/open', headers: { 'content-type': 'application/json' }, payload: '{"__proto__":{"admin":true}}' });
    expect(poisoned.statusCode).toBe(400);
    expect(await queue().count()).toBe(before);
  });

  test('form, text and binary bodies become data, text data and data_base64', async () => {
    await inject({ url: '/hooks/open', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=1&b=2&b=3' });
    expect(await lastEvent()).toMatchObject({ data: { a: '1', b: ['2', '3'] }, datacontenttype: 'application/x-www-form-urlencoded' });
    await inject({ url: '/hooks/open', headers: { 'content-type': 'text/plain; charset=utf-8' }, payload: 'hello' });
    expect(await lastEvent()).toMatchObject({ data: 'hello', datacontenttype: 'text/plain; charset=utf-8' });
    const bytes = Buffer.from([0, 1, 2, 255]);
    await inject({ url: '/hooks/open', headers: { 'content-type': 'application/octet-stream' }, payload: bytes });
    const binary = await lastEvent();
    expect(binary.data_base64).toBe(bytes.toString('base64'));
    expect(binary).not.toHaveProperty('data');
  });

  test('an unknown path is 404 and a type template that comes out empty is 400', async () => {
    const notFound = await inject({ url: '/hooks/nope', payload: '{}', headers: { 'content-type': 'application/json' } });
    expect(notFound.statusCode).toBe(404);
    expect(notFound.json()).toEqual({ error: 'SWB_ERR_HTTP_NOT_FOUND', message: 'no connector listens on POST /hooks/nope' });
    const body = '{}';
    const res = await inject({ url: '/hooks/github', headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(body) }, payload: body });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'SWB_ERR_HTTP_MAPPING', message: 'cannot map the event type: {headers.x-github-event} is missing from the request' });
  });

  test('health and readiness', async () => {
    expect((await t.sb.gateway!.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await t.sb.gateway!.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
  });
});
