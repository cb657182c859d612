/**
 * The event journal: for each event, when and where it arrived, where it was routed, every attempt with
 * its outcome, and what it emitted. Kept in Redis with bounded retention (age and count), written off
 * the request path so it never delays a 2xx: arrivals are written by the enqueue script itself (see
 * src/bus/enqueue.ts), later entries are buffered and written once per event-loop turn.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

export type JournalEntry =
  | { kind: 'received'; at: string; connector: string; type: string; source: string }
  | { kind: 'routed'; at: string; to: string[] }
  | { kind: 'attempt'; at: string; function: string; attempt: number; outcome: 'succeeded' | 'failed'; error?: string; durationMs: number }
  | { kind: 'emitted'; at: string; function: string; eventId: string; type: string }
  | { kind: 'dead-lettered'; at: string; function: string; error: string }
  | { kind: 'replayed'; at: string; function: string };

type NewEntry = JournalEntry extends infer E ? (E extends JournalEntry ? Omit<E, 'at'> : never) : never;

export interface JournalOptions {
  retentionMs: number;
  maxEvents: number;
  /** Entries kept per event. */
  maxEntries?: number;
}

/**
 * Where the journal lives in Redis. An event's first arrival (received + routed) is a field of one
 * hash, written by the enqueue script; later entries go to a list per event that expires after the
 * retention. The index, by arrival time, bounds the hash by age and count.
 */
export interface JournalLayout {
  /** Hash: event id → JSON array of its arrival entries. */
  arrivalsKey: string;
  /** `<prefix>:journal:e:`, followed by the event id: a list of its later JSON entries. */
  eventKeyPrefix: string;
  /** A sorted set of event ids by arrival time. */
  indexKey: string;
  retentionMs: number;
  maxEvents: number;
  maxEntries: number;
}

export function journalLayout(prefix: string, options: JournalOptions): JournalLayout {
  return {
    arrivalsKey: `${prefix}:journal:arrivals`,
    eventKeyPrefix: `${prefix}:journal:e:`,
    indexKey: `${prefix}:journal:index`,
    retentionMs: options.retentionMs,
    maxEvents: options.maxEvents,
    maxEntries: options.maxEntries ?? 200,
  };
}

/** The JSON of one entry as stored. */
export function journalEntryJson(at: string, entry: NewEntry): string {
  return JSON.stringify({ at, ...entry });
}

export class Journal {
  readonly layout: JournalLayout;
  private buffered: { eventId: string; entries: string[] }[] = [];

  constructor(
    private readonly redis: Redis,
    prefix: string,
    options: JournalOptions,
    private readonly log: Logger,
  ) {
    this.layout = journalLayout(prefix, options);
  }

  /** Appends entries; never throws and is not awaited. Entries of one event-loop turn share one pipeline. */
  record(eventId: string, ...entries: NewEntry[]): void {
    const at = new Date().toISOString();
    if (this.buffered.length === 0) setImmediate(() => this.flush());
    this.buffered.push({ eventId, entries: entries.map((e) => journalEntryJson(at, e)) });
  }

  private flush(): void {
    const batch = this.buffered;
    this.buffered = [];
    const { eventKeyPrefix, retentionMs, maxEntries } = this.layout;
    const pipeline = this.redis.pipeline();
    for (const { eventId, entries } of batch) {
      const key = eventKeyPrefix + eventId;
      pipeline.rpush(key, ...entries);
      pipeline.ltrim(key, -maxEntries, -1);
      pipeline.pexpire(key, retentionMs);
    }
    pipeline.exec().catch((err: Error) => this.log.debug({ err: err.message }, 'journal entries not written'));
  }

  async get(eventId: string): Promise<JournalEntry[] | undefined> {
    const [arrival, later] = await Promise.all([this.redis.hget(this.layout.arrivalsKey, eventId), this.redis.lrange(this.layout.eventKeyPrefix + eventId, 0, -1)]);
    const entries = [...(arrival ? (JSON.parse(arrival) as JournalEntry[]) : []), ...later.map((r) => JSON.parse(r) as JournalEntry)];
    return entries.length ? entries : undefined;
  }

  /** The most recent event ids, newest first. */
  async recent(limit = 50): Promise<{ id: string; at: string }[]> {
    const rows = await this.redis.zrevrange(this.layout.indexKey, 0, limit - 1, 'WITHSCORES');
    const out: { id: string; at: string }[] = [];
    for (let i = 0; i < rows.length; i += 2) out.push({ id: rows[i]!, at: new Date(Number(rows[i + 1])).toISOString() });
    return out;
  }
}
