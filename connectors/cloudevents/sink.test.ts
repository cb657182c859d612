/** The cloudevents connector as a sender: events POSTed to a sink in binary or structured mode. */
import definition, { type CloudEventsSinkApi } from './index.js';
import { startRecorder, type Recorder } from '../../test/helpers/index.js';
import { connectOutbound, leaks } from '../../test/peers/outbound.js';

describe('cloudevents sink', () => {
  let sink: Recorder;
  beforeAll(async () => {
    sink = await startRecorder();
  });
  afterAll(() => sink.close());

  const connect = (mode: 'binary' | 'structured') =>
    connectOutbound<CloudEventsSinkApi>(definition, { maxBatch: 1000, allowedOrigins: ['*'], sink: { url: `${sink.url}/sink`, mode, token: 'sink-token', timeout: '5s', retries: 1, allowPrivateNetworks: true } });

  test('binary mode: attributes as ce- headers, data as the body', async () => {
    sink.respond = () => ({ status: 202 });
    await connect('binary').api.send({ id: 'e1', source: '/orders', type: 'com.example.order', datacontenttype: 'application/json', data: { n: 1 }, tenant: 'acme' });
    const req = sink.requests.at(-1)!;
    expect(req.headers).toMatchObject({ 'ce-specversion': '1.0', 'ce-id': 'e1', 'ce-source': '/orders', 'ce-type': 'com.example.order', 'ce-tenant': 'acme', 'content-type': 'application/json', authorization: 'Bearer sink-token' });
    expect(req.json).toEqual({ n: 1 });
  });

  test('structured mode: the whole event as application/cloudevents+json', async () => {
    await connect('structured').api.send({ id: 'e2', source: '/orders', type: 'com.example.order', data: 'plain' });
    const req = sink.requests.at(-1)!;
    expect(req.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
    expect(req.json).toEqual({ specversion: '1.0', id: 'e2', source: '/orders', type: 'com.example.order', data: 'plain' });
  });

  test('a 429 is retried after Retry-After, and errors never carry the token', async () => {
    let calls = 0;
    sink.respond = () => (++calls === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 202 });
    await connect('binary').api.send({ id: 'e3', source: '/orders', type: 'com.example.order' });
    expect(calls).toBe(2);
    sink.respond = () => ({ status: 401 });
    const err = await connect('binary').api.send({ id: 'e4', source: '/orders', type: 'com.example.order' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 401 });
    expect(leaks(err, 'sink-token')).toBe(false);
  });

  test('an invalid event is refused before sending', async () => {
    const before = sink.requests.length;
    await expect(connect('binary').api.send({ id: '', source: '/s', type: 't' })).rejects.toThrow('invalid CloudEvent attribute "id"');
    expect(sink.requests.length).toBe(before);
  });
});
