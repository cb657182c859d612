/** Turns a request body into CloudEvent data by its content type. */
import secureJson from 'secure-json-parse';
import { HttpError } from '../../src/gateway/http-error.js';

export interface Payload {
  /** What templates see as `body`. */
  value: unknown;
  data?: unknown;
  data_base64?: string;
  datacontenttype?: string;
  /** The JSON text `data` was parsed from, when it was. */
  json?: string;
}

export function parsePayload(raw: Buffer, contentTypeHeader: string | undefined): Payload {
  if (raw.length === 0) return { value: undefined };
  const contentType = (contentTypeHeader ?? 'application/octet-stream').trim();
  const mediaType = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (mediaType === 'application/json' || mediaType.endsWith('+json')) {
    let value: unknown;
    const json = raw.toString('utf8');
    try {
      // Rejects __proto__ and constructor.prototype keys instead of building a poisoned object.
      value = secureJson.parse(json, undefined, { protoAction: 'error', constructorAction: 'error' });
    } catch (err) {
      throw new HttpError(400, 'SWB_ERR_HTTP_BODY_INVALID', `body is not valid JSON: ${(err as Error).message}`);
    }
    return { value, data: value, datacontenttype: 'application/json', json };
  }
  if (mediaType === 'application/x-www-form-urlencoded') {
    const value: Record<string, string | string[]> = Object.create(null);
    for (const [key, v] of new URLSearchParams(raw.toString('utf8'))) {
      const prev = value[key];
      value[key] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    return { value: { ...value }, data: { ...value }, datacontenttype: contentType };
  }
  if (mediaType.startsWith('text/') || mediaType === 'application/xml') {
    const text = raw.toString('utf8');
    return { value: text, data: text, datacontenttype: contentType };
  }
  return { value: undefined, data_base64: raw.toString('base64'), datacontenttype: contentType };
}
