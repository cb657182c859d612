/**
 * Hostile input, property-based (fast-check) and hand-picked, against the real gateway and bus: every
 * bad request gets a clear 4xx, nothing is enqueued, nothing crashes, and a planted canary secret never
 * appears in a log line or an error body.
 */
import net from 'node:net';
import { createHmac } from 'node:crypto';
import path from 'node:path';
import fc from 'fast-check';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { jobIdFor } from '../src/bus/bus.js';
import { parseCloudEvent, serializeCloudEvent, type CloudEvent } from '../src/events/cloudevent.js';
import { createOutboundAgent } from '../src/net/outbound.js';
import { createHttpClient } from '../connectors/http/index.js';
import { bootSwitchboard, FIXTURES, type TestSwitchboard } from './helpers/index.js';

const CANARY = 'canary-secret-7f3a9c2e51d4b8a6';

const YAML = `
gateway: { bodyLimit: 64kb, requestTimeout: 1s }
connectors:
  - name: signed
    type: webhook
    config:
      secret: \${env:CANARY}
      verify: { scheme: hmac, header: X-Sig, prefix: "v1=", signedPayload: "{timestamp}.{body}", timestampHeader: X-Ts, tolerance: 5m }
  - name: open
    type: webhook
    config: { verify: { scheme: none }, event: { id: "{headers.x-id}" } }
  - name: ce
    type: cloudevents
    config: { auth: { scheme: bearer }, secret: "\${env:CANARY}" }
functions:
  - name: sink
    runtime: node
    module: ./functions/record.js
    trigger: { source: { prefix: "" } }
`;

describe('hostile input', () => {
  let t: TestSwitchboard;
  beforeAll(async () => {
    t = await bootSwitchboard(YAML, { worker: false, listen: { host: '127.0.0.1', port: 0 }, env: { CANARY } });
  });
  afterAll(() => t?.close());

  const queued = () => t.sb.bus.queue('sink')!.count();
  let deliveries = 0;
  const inject = (url: string, payload: string | Buffer, headers: Record<string, string>) => t.sb.gateway!.app.inject({ method: 'POST', url, payload, headers });
  const noCanary = (text: string) => expect(text).not.toContain(CANARY);

  test('any body with a missing, truncated, wrong-scheme or forged signature: 401 (or 413), never enqueued', async () => {
    const before = await queued();
    const now = String(Math.floor(Date.now() / 1000));
    const real = (body: string) => 'v1=' + createHmac('sha256', CANARY).update(`${now}.${body}`).digest('hex');
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string(), fc.json(), fc.base64String()),
        fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', 'application/cloudevents+json'),
        fc.oneof(
          fc.constant(undefined),
          fc.string(),
          fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }).map((h: string) => `v1=${h}`),
          fc.constant('sha256=0000'),
          fc.constant('v1='),
        ),
        fc.boolean(),
        async (body, contentType, signature, truncate) => {
          const headers: Record<string, string> = { 'content-type': contentType, 'x-ts': now };
          const forged = signature === undefined ? undefined : truncate ? real(body).slice(0, -2) : signature;
          if (forged !== undefined) headers['x-sig'] = forged;
          const res = await inject('/hooks/signed', body, headers);
          expect([401, 413]).toContain(res.statusCode);
          noCanary(res.body);
        },
      ),
      { numRuns: 150 },
    );
    expect(await queued()).toBe(before);
  });

  test('timestamps just outside the tolerance, on each side, are refused even with the right signature', async () => {
    for (const skew of [-301, 301]) {
      const ts = String(Math.floor(Date.now() / 1000) + skew);
      const body = '{"x":1}';
      const res = await inject('/hooks/signed', body, { 'content-type': 'application/json', 'x-ts': ts, 'x-sig': 'v1=' + createHmac('sha256', CANARY).update(`${ts}.${body}`).digest('hex') });
      expect(res.statusCode).toBe(401);
      expect(res.json().message).toBe('signature timestamp is outside the tolerance of 300 s');
    }
  });

  test('any JSON value to an open webhook is accepted and enqueued, or refused with 400; never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const before = await queued();
        const res = await inject('/hooks/open', JSON.stringify(value), { 'content-type': 'application/json', 'x-id': `fuzz-${++deliveries}` });
        expect([202, 400, 413]).toContain(res.statusCode);
        expect(await queued()).toBe(res.statusCode === 202 ? before + 1 : before);
      }),
      { numRuns: 100 },
    );
  });

  test("the job carries a JSON body's data exactly as parsed, however the sender formatted it (the raw text is spliced into the event)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), fc.constantFrom(undefined, 0, 1, 2, '\t'), async (value, indent) => {
        const id = `fuzz-${++deliveries}`;
        const body = `\n ${JSON.stringify(value, null, indent)} \r\n`;
        const res = await inject('/hooks/open', body, { 'content-type': 'application/json', 'x-id': id });
        if (res.statusCode !== 202) return expect([400, 413]).toContain(res.statusCode);
        const job = await t.sb.bus.queue('sink')!.getJob(jobIdFor('sink', { source: '/switchboard/webhook/open', id }));
        const event = job!.data as { data: unknown; id: string; type: string };
        expect(event).toMatchObject({ id, type: 'dev.switchboard.webhook', datacontenttype: 'application/json' });
        expect(event.data).toEqual(JSON.parse(JSON.stringify(value)));
        expect(await t.sb.bus.connection.hget(`${t.prefix}:fn.sink:${job!.id}`, 'data')).toContain(`"data":${body}}`);
      }),
      { numRuns: 100 },
    );
  });

  test('malformed JSON and prototype-poisoning payloads get 400 and nothing is enqueued', async () => {
    const before = await queued();
    for (const payload of ['{"a":', '{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}', '[1,2', '\u0000', 'nul']) {
      const res = await inject('/hooks/open', payload, { 'content-type': 'application/json' });
      expect(res.statusCode).toBe(400);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await queued()).toBe(before);
  });

  test('arbitrary CloudEvents: 202 exactly when the event is valid, else 400 naming the attribute', async () => {
    const attribute = fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.boolean(), fc.constant(''));
    await fc.assert(
      fc.asyncProperty(
        fc.record({ specversion: fc.oneof(fc.constant('1.0'), attribute), id: attribute, source: attribute, type: attribute, time: fc.oneof(fc.constant(undefined), fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string()) }, { requiredKeys: [] }),
        fc.dictionary(fc.string({ maxLength: 12 }), fc.oneof(fc.string(), fc.integer(), fc.double()), { maxKeys: 3 }),
        async (core, extensions) => {
          const event = { ...extensions, ...core };
          let valid = true;
          try {
            parseCloudEvent(JSON.parse(JSON.stringify(event)));
          } catch {
            valid = false;
          }
          const res = await inject('/hooks/ce', JSON.stringify(event), { 'content-type': 'application/cloudevents+json', authorization: `Bearer ${CANARY}` });
          expect(res.statusCode).toBe(valid ? 202 : 400);
          // A "__proto__" key is refused before the event is read, as prototype poisoning (see the test above).
          if (!valid) expect(res.json().error).toBe(Object.hasOwn(event, '__proto__') ? 'SWB_ERR_HTTP_BODY_INVALID' : 'SWB_ERR_EVENT_INVALID');
          noCanary(res.body);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('a body over the limit gets 413; huge headers get 431; nothing is enqueued', async () => {
    const before = await queued();
    expect((await inject('/hooks/open', JSON.stringify({ pad: 'x'.repeat(70_000) }), { 'content-type': 'application/json' })).statusCode).toBe(413);
    const huge = await fetch(`${t.sb.url}/hooks/open`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-huge': 'h'.repeat(20_000) }, body: '{}' });
    expect(huge.status).toBe(431);
    expect(await queued()).toBe(before);
  });

  test('a slow-loris client is cut off at the request timeout', async () => {
    const { port } = new URL(t.sb.url!);
    const closed = await new Promise<{ afterMs: number; answer: string }>((resolve) => {
      const started = Date.now();
      let answer = '';
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write('POST /hooks/open HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":');
      });
      socket.on('data', (d) => (answer += d.toString()));
      socket.on('close', () => resolve({ afterMs: Date.now() - started, answer }));
    });
    expect(closed.afterMs).toBeLessThan(5000);
    expect(closed.answer).toMatch(/^HTTP\/1\.1 408|^$/);
  });

  test('the canary secret appears in no log line', () => {
    expect(t.logs.lines.length).toBeGreaterThan(0);
    noCanary(t.logs.lines.join('\n'));
  });
});

describe('outbound calls to private and metadata addresses are refused, however they are spelled', () => {
  const agent = createOutboundAgent({ allowPrivateNetworks: false });
  afterAll(() => agent.close());
  test.each([
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.1/',
    'http://172.16.0.1/',
    'http://192.168.1.1/',
    'http://127.0.0.1/',
    'http://[::1]/',
    'http://[fc00::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://2130706433/', // 127.0.0.1 in decimal
    'http://0177.0.0.1/', // octal
    'http://0x7f.0.0.1/', // hex
    'http://localhost/', // a name that resolves to loopback
  ])('%s', async (url) => {
    const client = createHttpClient({ baseUrl: url, timeout: '2s', retries: 0 }, agent);
    await expect(client.request({ path: '' })).rejects.toMatchObject({ code: 'SWB_ERR_OUTBOUND_BLOCKED' });
  });
});

describe('filters that could be made to backtrack forever', () => {
  test('a regular expression with nested repetition is a config error, so sender data never meets it', async () => {
    const err = (await parseConfig('functions:\n  - name: f\n    runtime: node\n    module: ./functions/record.js\n    trigger: { type: x }\n    filter: "$match(data.s, /(a+)+$/)"\n', path.join(FIXTURES, 'switchboard.yaml'), { env: {} }).catch((e: unknown) => e)) as ConfigError;
    expect(err.issues[0]).toMatchObject({ line: 6, path: 'functions[0].filter', message: 'regular expression /(a+)+$/g can take exponential time on some inputs (nested repetition); rewrite it' });
  });
});

describe('serializing an event whose data arrived as JSON text', () => {
  test('gives the JSON of the event as JSON.stringify would, for any attributes and data, with the text spliced in', () => {
    const attribute = fc.string({ maxLength: 20 });
    fc.assert(
      fc.property(fc.jsonValue(), attribute, fc.option(attribute, { nil: undefined }), (data, id, subject) => {
        const event: CloudEvent = { specversion: '1.0', id: id || 'x', source: '/s', type: 't', ...(subject !== undefined ? { subject } : {}), data };
        const text = ` ${JSON.stringify(data, null, 1)}\n`;
        const json = serializeCloudEvent(event, text);
        expect(json.endsWith(`"data":${text}}`)).toBe(true);
        expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify(event)));
      }),
    );
    const noData: CloudEvent = { specversion: '1.0', id: '1', source: '/s', type: 't' };
    expect(serializeCloudEvent(noData, '{"a":1}')).toBe(JSON.stringify(noData));
  });
});
