/**
 * The CloudEvents HTTP binding against the public conformance data (../shared/cloudevents-conformance):
 * every request of http-yaml in its mode (both modes for the minimum cases) must produce the event it
 * describes, on the real bus; invalid requests get 400 naming the attribute.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { CloudEvent } from '../../src/events/cloudevent.js';
import { bootSwitchboard, type TestSwitchboard } from '../../test/helpers/index.js';

const SHARED = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/cloudevents-conformance');

interface Case {
  Mode?: 'binary' | 'structured';
  ContextAttributes: Record<string, any> & { Extensions?: Record<string, string> };
  TransportExtensions?: Record<string, string>;
  Data?: string;
}

function loadCases(file: string): Case[] {
  // failsafe: every scalar is a string, as on the wire (specversion "1.0", not the number 1).
  return parseAllDocuments(readFileSync(path.join(SHARED, 'http-yaml', file), 'utf8'), { schema: 'failsafe' }).map((d) => d.toJS() as Case);
}

const cases: [string, 'binary' | 'structured', Case][] = [];
// Each request gets its own id: the same source and id sent twice would (rightly) be deduplicated.
const withId = (c: Case, mode: string): Case => ({ ...c, ContextAttributes: { ...c.ContextAttributes, id: `${c.ContextAttributes.id}-${mode}` } });
for (const c of loadCases('v1.yaml')) cases.push([`${c.ContextAttributes.id} (${c.Mode})`, c.Mode!, withId(c, c.Mode!)]);
for (const c of loadCases('v1.0/v1_minimum.yaml')) for (const mode of ['binary', 'structured'] as const) cases.push([`${c.ContextAttributes.id} (${mode})`, mode, withId(c, mode)]);

const isJson = (contentType: string | undefined) => /^application\/(.+\+)?json\b/i.test(contentType ?? '');
// Percent-encode what the binding requires: space, double quote, percent, and anything outside printable ASCII.
const encodeHeader = (v: string) => [...Buffer.from(v, 'utf8')].map((b) => (b <= 0x20 || b >= 0x7f || b === 0x22 || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b))).join('');

function toRequest(mode: 'binary' | 'structured', c: Case): { headers: Record<string, string>; payload: string } {
  const { Extensions = {}, ...attributes } = c.ContextAttributes;
  const transport = c.TransportExtensions ?? {};
  if (mode === 'binary') {
    const headers: Record<string, string> = { ...transport };
    for (const [k, v] of Object.entries({ ...attributes, ...Extensions })) {
      if (k === 'datacontenttype') headers['content-type'] = v;
      else headers[`ce-${k}`] = encodeHeader(v);
    }
    return { headers, payload: c.Data ?? '' };
  }
  const event: Record<string, unknown> = { ...attributes, ...Extensions };
  if (c.Data !== undefined) event.data = isJson(attributes.datacontenttype) ? JSON.parse(c.Data) : c.Data;
  return { headers: { ...transport, 'content-type': 'application/cloudevents+json; charset=utf-8' }, payload: JSON.stringify(event) };
}

const YAML = `
connectors:
  - name: ce
    type: cloudevents
    config: { auth: { scheme: none }, maxBatch: 10000 }
  - name: ce-secured
    type: cloudevents
    config:
      auth: { scheme: bearer }
      secret: \${env:CE_TOKEN}
functions:
  - name: all
    runtime: node
    module: ./functions/record.js
    trigger: { source: { prefix: "" } }
`;

describe('cloudevents connector (HTTP binding)', () => {
  let t: TestSwitchboard;
  beforeAll(async () => {
    t = await bootSwitchboard(YAML, { worker: false, listen: false, env: { CE_TOKEN: 'ce-token-123' } });
  });
  afterAll(() => t?.close());

  const post = (headers: Record<string, string>, payload: string, url = '/hooks/ce') => t.sb.gateway!.app.inject({ method: 'POST', url, headers, payload });
  async function stored(id: string, source: string): Promise<CloudEvent> {
    const jobs = await t.sb.bus.queue('all')!.getJobs(['waiting']);
    const job = jobs.find((j) => (j.data as CloudEvent).id === id && (j.data as CloudEvent).source === source);
    expect(job).toBeDefined();
    return job!.data as CloudEvent;
  }

  test.each(cases)('conformance: %s', async (_name, mode, c) => {
    const { headers, payload } = toRequest(mode, c);
    const res = await post(headers, payload);
    expect(res.statusCode).toBe(202);
    const { Extensions = {}, ...attributes } = c.ContextAttributes;
    const event = await stored(attributes.id!, attributes.source!);
    expect(event).toMatchObject({ ...attributes, ...Extensions });
    if (c.Data !== undefined && isJson(attributes.datacontenttype)) expect(event.data).toEqual(JSON.parse(c.Data));
    else if (c.Data !== undefined && (attributes.datacontenttype || mode === 'structured')) expect(event.data).toBe(c.Data);
    // Binary mode without Content-Type: the bytes are opaque and travel as data_base64.
    else if (c.Data !== undefined) expect(Buffer.from(event.data_base64!, 'base64').toString('utf8')).toBe(c.Data);
    // Transport headers are not attributes.
    for (const k of Object.keys(c.TransportExtensions ?? {})) expect(event).not.toHaveProperty(k);
  });

  test('a batch is accepted whole, each event on the bus', async () => {
    const batch = JSON.parse(readFileSync(path.join(SHARED, 'format-json/valid-batches.json'), 'utf8')).tests.find((x: { id: string }) => x.id === 'validBatchMinimalAndAllCore').batch;
    const res = await post({ 'content-type': 'application/cloudevents-batch+json' }, JSON.stringify(batch));
    expect(res.statusCode).toBe(202);
    expect(res.json().ids).toEqual(batch.map((e: CloudEvent) => e.id));
    for (const e of batch) expect(await stored(e.id, e.source)).toMatchObject({ type: e.type });
    const empty = await post({ 'content-type': 'application/cloudevents-batch+json' }, '[]');
    expect(empty.json()).toEqual({ ids: [], status: 'accepted' });
  });

  test('a batch of 9,000 events (maxBatch allows 10,000; more than Lua unpacks at once) is accepted whole, and a redelivery of it is a duplicate', async () => {
    const batch = Array.from({ length: 9000 }, (_, i) => ({ specversion: '1.0', id: `big-${i}`, source: '/big', type: 'io.test.big' }));
    const waitingBefore = await t.sb.bus.queue('all')!.getWaitingCount();
    const res = await post({ 'content-type': 'application/cloudevents-batch+json' }, JSON.stringify(batch));
    expect(res.statusCode).toBe(202);
    expect(await t.sb.bus.queue('all')!.getWaitingCount()).toBe(waitingBefore + 9000);
    const again = await post({ 'content-type': 'application/cloudevents-batch+json' }, JSON.stringify(batch));
    expect(again.statusCode).toBe(202);
    expect(await t.sb.bus.queue('all')!.getWaitingCount()).toBe(waitingBefore + 9000);
  });

  const minimal = { 'ce-specversion': '1.0', 'ce-id': 'bad-1', 'ce-source': '/test', 'ce-type': 'io.test', 'content-type': 'text/plain' };
  test.each([
    ['a missing required attribute', { ...minimal, 'ce-id': undefined }, 'id'],
    ['a wrong specversion', { ...minimal, 'ce-specversion': '0.3' }, 'specversion'],
    ['a bad attribute name', { ...minimal, 'ce-bad_name': 'x' }, 'bad_name'],
    ['no CloudEvent at all', { 'content-type': 'application/json' }, 'specversion'],
  ])('binary mode rejects %s with 400 naming the attribute', async (_what, headers, attribute) => {
    const clean = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<string, string>;
    const before = await t.sb.bus.queue('all')!.count();
    const res = await post(clean, 'hello');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'SWB_ERR_EVENT_INVALID', message: expect.stringContaining(`"${attribute}"`) });
    expect(await t.sb.bus.queue('all')!.count()).toBe(before);
  });

  test.each([
    ['a missing source', { specversion: '1.0', id: 'x', type: 't' }, 'source'],
    ['a wrong specversion', { specversion: '0.3', id: 'x', source: '/s', type: 't' }, 'specversion'],
    ['a bad attribute name', { specversion: '1.0', id: 'x', source: '/s', type: 't', 'Bad.Name': 1 }, 'Bad.Name'],
  ])('structured mode rejects %s with 400 naming the attribute', async (_what, event, attribute) => {
    const res = await post({ 'content-type': 'application/cloudevents+json' }, JSON.stringify(event));
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toContain(`"${attribute}"`);
  });

  test('batch mode rejects a batch with one invalid event, and nothing of it is enqueued', async () => {
    const before = await t.sb.bus.queue('all')!.count();
    const res = await post({ 'content-type': 'application/cloudevents-batch+json' }, JSON.stringify([{ specversion: '1.0', id: 'ok', source: '/b', type: 't' }, { specversion: '1.0', source: '/b', type: 't' }]));
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toBe('invalid CloudEvent attribute "id": is required (batch item 1)');
    expect(await t.sb.bus.queue('all')!.count()).toBe(before);
  });

  test('optional auth: a bearer token is required when configured', async () => {
    const headers = { ...minimal, 'ce-id': 'auth-1' };
    expect((await post(headers, 'x', '/hooks/ce-secured')).statusCode).toBe(401);
    expect((await post({ ...headers, authorization: 'Bearer ce-token-123' }, 'x', '/hooks/ce-secured')).statusCode).toBe(202);
  });

  test('the abuse-protection handshake (CloudEvents webhook spec) is answered', async () => {
    const res = await t.sb.gateway!.app.inject({ method: 'OPTIONS', url: '/hooks/ce', headers: { 'webhook-request-origin': 'eventemitter.example.com' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['webhook-allowed-origin']).toBe('*');
  });
});
