/**
 * CloudEvents 1.0 model and JSON event format.
 *
 * Hand-written rather than the `cloudevents` SDK: the SDK fills in a missing `id` and `specversion`
 * and accepts several events the conformance suite calls invalid (unknown specversion, empty id,
 * both `data` and `data_base64`, malformed time offsets), which a receiver must reject. It is also
 * several times slower per event (see bench/cloudevent.ts).
 */
import { SwitchboardError } from '../errors.js';

export interface CloudEvent<T = unknown> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  datacontenttype?: string;
  dataschema?: string;
  subject?: string;
  time?: string;
  data?: T;
  data_base64?: string;
  [extension: string]: unknown;
}

/** Attributes a producer supplies; `specversion` is filled in. */
export type CloudEventInput<T = unknown> = Omit<CloudEvent<T>, 'specversion'> & { specversion?: '1.0' };

export type ExtensionValue = string | number | boolean;

export class CloudEventError extends SwitchboardError {
  constructor(
    readonly attribute: string,
    readonly reason: string,
  ) {
    super('SWB_ERR_EVENT_INVALID', `invalid CloudEvent attribute "${attribute}": ${reason}`);
  }
}

const CONTEXT_ATTRIBUTES = new Set([
  'specversion', 'id', 'source', 'type', 'datacontenttype', 'dataschema', 'subject', 'time',
]);
const EXTENSION_NAME = /^[a-z0-9]+$/;
// RFC 3339 date-time; offsets are range-checked below.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$/;
// RFC 2046 type/subtype with optional parameters.
const MEDIA_TYPE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*;.*)?$/;
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

let lastMs = -1;
let lastIso = '';
/** The current time in RFC 3339, as `new Date().toISOString()`; made once per millisecond (several events share it under load). */
export function nowIso(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/**
 * The event as JSON (structured mode). Given `dataJson`, the JSON text `event.data` was parsed from,
 * that text is spliced in instead of serializing `data` again: the same JSON value (the parse
 * succeeded on it), at no cost per byte, which matters for real webhook payloads of tens of kilobytes.
 * The text travels beside the event (PublishOptions.dataJson), not on it: a WeakMap from events to
 * their text made the young collector keep and promote the events (0.5 MB per scavenge, measured with
 * the connector answering before it publishes; none without the WeakMap).
 */
export function serializeCloudEvent(event: CloudEvent, dataJson?: string): string {
  if (dataJson === undefined || event.data === undefined) return JSON.stringify(event);
  // Attributes are strings, numbers and booleans: `data` is the only member with members of its own.
  // A copy without it, not a replacer function: that keeps JSON.stringify on its fast path (0.8 against 1.2 µs).
  const { data: _data, ...rest } = event;
  const attributes = JSON.stringify(rest);
  return `${attributes.slice(0, -1)}${attributes.length > 2 ? ',' : ''}"data":${dataJson}}`;
}

export function isMediaType(value: string): boolean {
  return MEDIA_TYPE.test(value);
}

export function isValidTimestamp(value: string): boolean {
  const m = RFC3339.exec(value);
  if (!m) return false;
  const [, , month, day, hour, minute, second, , , , offH, offM] = m;
  if (Number(month) < 1 || Number(month) > 12 || Number(day) < 1 || Number(day) > 31) return false;
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 60) return false;
  if (offH !== undefined && (Number(offH) > 23 || Number(offM) > 59)) return false;
  return true;
}

function requireString(event: Record<string, unknown>, name: string): string {
  const value = event[name];
  if (value === undefined || value === null) throw new CloudEventError(name, 'is required');
  if (typeof value !== 'string') throw new CloudEventError(name, `must be a string, got ${typeName(value)}`);
  if (value.length === 0) throw new CloudEventError(name, 'must not be empty');
  return value;
}

function optionalString(event: Record<string, unknown>, name: string): string | undefined {
  const value = event[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new CloudEventError(name, `must be a string, got ${typeName(value)}`);
  if (value.length === 0) throw new CloudEventError(name, 'must not be empty when present');
  return value;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/**
 * Validates a JSON-format event (as parsed from JSON) and returns a normalized copy:
 * null optional attributes are dropped, everything else is kept as is.
 */
export function parseCloudEvent(input: unknown): CloudEvent {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new CloudEventError('(event)', `must be a JSON object, got ${typeName(input)}`);
  }
  const raw = input as Record<string, unknown>;
  const specversion = requireString(raw, 'specversion');
  if (specversion !== '1.0') throw new CloudEventError('specversion', `must be "1.0", got "${specversion}"`);
  const event: CloudEvent = {
    specversion: '1.0',
    id: requireString(raw, 'id'),
    source: requireString(raw, 'source'),
    type: requireString(raw, 'type'),
  };
  const datacontenttype = optionalString(raw, 'datacontenttype');
  if (datacontenttype !== undefined) {
    if (!MEDIA_TYPE.test(datacontenttype)) {
      throw new CloudEventError('datacontenttype', `"${datacontenttype}" is not an RFC 2046 media type`);
    }
    event.datacontenttype = datacontenttype;
  }
  const dataschema = optionalString(raw, 'dataschema');
  if (dataschema !== undefined) {
    if (!ABSOLUTE_URI.test(dataschema)) throw new CloudEventError('dataschema', 'must be an absolute URI');
    event.dataschema = dataschema;
  }
  const subject = optionalString(raw, 'subject');
  if (subject !== undefined) event.subject = subject;
  const time = optionalString(raw, 'time');
  if (time !== undefined) {
    if (!isValidTimestamp(time)) throw new CloudEventError('time', `"${time}" is not an RFC 3339 timestamp`);
    event.time = time;
  }
  const hasData = raw.data !== undefined && raw.data !== null;
  const hasBase64 = raw.data_base64 !== undefined && raw.data_base64 !== null;
  if (hasData && hasBase64) throw new CloudEventError('data_base64', 'must not be present together with "data"');
  if (hasData) event.data = raw.data;
  if (hasBase64) {
    const b64 = raw.data_base64;
    if (typeof b64 !== 'string' || !BASE64.test(b64) || b64.length % 4 !== 0) {
      throw new CloudEventError('data_base64', 'must be a base64 string');
    }
    event.data_base64 = b64;
  }
  for (const name of Object.keys(raw)) {
    if (CONTEXT_ATTRIBUTES.has(name) || name === 'data' || name === 'data_base64') continue;
    const value = raw[name];
    if (value === null || value === undefined) continue;
    event[name] = checkExtension(name, value);
  }
  return event;
}

export function checkExtension(name: string, value: unknown): ExtensionValue {
  if (!EXTENSION_NAME.test(name)) {
    throw new CloudEventError(name, 'extension names must be lower-case letters and digits only');
  }
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) {
      throw new CloudEventError(name, 'an integer extension must be a 32-bit whole number');
    }
    return value;
  }
  throw new CloudEventError(name, `extension values must be string, integer or boolean, got ${typeName(value)}`);
}

/** A batch in the JSON batch format: an array of events, each valid. */
export function parseCloudEventBatch(input: unknown): CloudEvent[] {
  if (!Array.isArray(input)) throw new CloudEventError('(batch)', `must be a JSON array, got ${typeName(input)}`);
  return input.map((item, index) => {
    try {
      return parseCloudEvent(item);
    } catch (err) {
      if (err instanceof CloudEventError) {
        throw new CloudEventError(err.attribute, `${err.reason} (batch item ${index})`);
      }
      throw err;
    }
  });
}

/** Builds an event from attributes we produce ourselves, checking them the same way. */
export function createCloudEvent<T>(input: CloudEventInput<T>): CloudEvent<T> {
  return parseCloudEvent({ ...input, specversion: '1.0' }) as CloudEvent<T>;
}
