/** The CloudEvents JSON format conformance cases from ../shared/cloudevents-conformance. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloudEventError, createCloudEvent, parseCloudEvent, parseCloudEventBatch } from '../src/events/cloudevent.js';

const DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared/cloudevents-conformance/format-json');
const load = (name: string) => JSON.parse(readFileSync(path.join(DATA, `${name}.json`), 'utf8')) as { tests: { id: string; event?: unknown; batch?: unknown }[] };

describe('CloudEvents JSON format conformance', () => {
  test.each(load('valid-events').tests.map((t) => [t.id, t.event]))('accepts %s', (_id, event) => {
    const parsed = parseCloudEvent(event);
    const input = event as Record<string, unknown>;
    for (const [key, value] of Object.entries(input)) {
      if (value !== null) expect(parsed[key]).toEqual(value);
      else expect(parsed).not.toHaveProperty(key);
    }
  });

  test.each(load('invalid-events').tests.map((t) => [t.id, t.event]))('rejects %s, naming the attribute', (_id, event) => {
    let error: unknown;
    try {
      parseCloudEvent(event);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CloudEventError);
    const attribute = (error as CloudEventError).attribute;
    expect((error as Error).message).toContain(`"${attribute}"`);
    // The attribute named is one the event has wrong, or a required one it lacks.
    expect([...Object.keys(event as object), 'id', 'source', 'type', 'specversion']).toContain(attribute);
  });

  test.each(load('valid-batches').tests.map((t) => [t.id, t.batch]))('accepts batch %s', (_id, batch) => {
    expect(parseCloudEventBatch(batch)).toHaveLength((batch as unknown[]).length);
  });

  test.each(load('invalid-batches').tests.map((t) => [t.id, t.batch]))('rejects batch %s', (_id, batch) => {
    expect(() => parseCloudEventBatch(batch)).toThrow(CloudEventError);
  });
});

describe('CloudEvent model', () => {
  test('names the attribute and what is wrong with it', () => {
    expect(() => parseCloudEvent({ specversion: '1.0', id: 'x', source: '/s', type: 't', 'Bad-Name': 1 })).toThrow(
      'invalid CloudEvent attribute "Bad-Name": extension names must be lower-case letters and digits only',
    );
    expect(() => parseCloudEvent({ specversion: '1.0', id: 7, source: '/s', type: 't' })).toThrow('"id": must be a string, got number');
    expect(() => parseCloudEvent({ specversion: '1.0', id: 'x', type: 't' })).toThrow('"source": is required');
    expect(() => parseCloudEvent({ specversion: '1.0', id: 'x', source: '/s', type: 't', time: '2018-04-05 17:31:00' })).toThrow('"time"');
    expect(() => parseCloudEvent({ specversion: '1.0', id: 'x', source: '/s', type: 't', ext: { a: 1 } })).toThrow('"ext": extension values must be string, integer or boolean, got object');
    expect(() => parseCloudEvent({ specversion: '1.0', id: 'x', source: '/s', type: 't', big: 2 ** 31 })).toThrow('32-bit');
    expect(() => parseCloudEvent({ specversion: '1.0', id: 'x', source: '/s', type: 't', data_base64: 'not base64!' })).toThrow('"data_base64"');
  });

  test('createCloudEvent fills specversion and keeps extensions', () => {
    expect(createCloudEvent({ id: '1', source: '/s', type: 't', traceparent: '00-abc', count: 3 })).toEqual({
      specversion: '1.0',
      id: '1',
      source: '/s',
      type: 't',
      traceparent: '00-abc',
      count: 3,
    });
  });
});
