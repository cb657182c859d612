/** Turns a broker message into a CloudEvent: a structured-mode CloudEvent is taken as is; anything else is wrapped. */
import { CloudEventError, parseCloudEvent, type CloudEvent } from './cloudevent.js';
import { PoisonMessageError } from '../registry/poller.js';

const RESERVED = new Set(['specversion', 'id', 'source', 'type', 'datacontenttype', 'dataschema', 'subject', 'time', 'data', 'data_base64']);

/** Broker attribute names as CloudEvent extension names: lower-case letters and digits only. */
export function extensionName(name: string): string | undefined {
  const cleaned = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return cleaned && !RESERVED.has(cleaned) ? cleaned : undefined;
}

export interface MessageMapping {
  id: string;
  source: string;
  type: string;
  subject?: string;
  time?: string;
  body: string;
  /** Broker attributes, kept as extensions. */
  attributes?: Record<string, string>;
  connector: string;
}

export function eventFromMessage(m: MessageMapping): CloudEvent {
  let parsed: unknown;
  let isJson = false;
  try {
    parsed = JSON.parse(m.body);
    isJson = true;
  } catch {
    parsed = m.body;
  }
  if (isJson && parsed && typeof parsed === 'object' && !Array.isArray(parsed) && 'specversion' in parsed) {
    try {
      const event = parseCloudEvent(parsed);
      return event.connector === undefined ? { ...event, connector: m.connector } : event;
    } catch (err) {
      throw new PoisonMessageError(err instanceof CloudEventError ? err.message : String(err));
    }
  }
  const extensions: Record<string, string> = {};
  for (const [name, value] of Object.entries(m.attributes ?? {})) {
    const ext = extensionName(name);
    if (ext) extensions[ext] = value;
  }
  return {
    ...extensions,
    specversion: '1.0',
    id: m.id,
    source: m.source,
    type: m.type,
    time: m.time ?? new Date().toISOString(),
    ...(m.subject ? { subject: m.subject } : {}),
    datacontenttype: isJson ? 'application/json' : 'text/plain',
    data: parsed,
    connector: m.connector,
  };
}
