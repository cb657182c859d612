/**
 * The event journal: for each event, when and where it arrived, where it was routed, every attempt with
 * its outcome, and what it emitted. Kept in Redis with bounded retention (age and count), written off
 * the request path so it never delays a 2xx: arrivals are written by the enqueue script itself (see
 * src/bus/enqueue.ts), later entries are buffered and appended by one script call per event-loop turn.
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
  /** Each writer trims by age and count at most this often (not on every call: two Redis calls saved per event at low load). */
  trimEveryMs?: number;
}

/**
 * Where the journal lives in Redis: one hash, event id → its entries as JSON lines, and an index of
 * event ids by first entry, which bounds the hash by age and count (memory stays bounded at any rate).
 */
export interface JournalLayout {
  /** Hash: event id → newline-separated JSON entries, oldest first. */
  entriesKey: string;
  /** Sorted set: event ids by the time of their first entry. */
  indexKey: string;
  retentionMs: number;
  maxEvents: number;
  maxEntries: number;
  trimEveryMs: number;
}

/** Decides when a writer's call also trims, and how much it may trim (more than was added since). */
export class TrimSchedule {
  private last = 0;
  private added = 0;

  constructor(private readonly everyMs: number) {}

  /** The trim limit for a call adding `count` events' entries; 0 for no trim this time. */
  next(count: number, now = Date.now()): number {
    this.added += count;
    if (now - this.last < this.everyMs) return 0;
    const limit = 2 * this.added + 16;
    this.last = now;
    this.added = 0;
    return limit;
  }
}

export function journalLayout(prefix: string, options: JournalOptions): JournalLayout {
  return {
    entriesKey: `${prefix}:journal:entries`,
    indexKey: `${prefix}:journal:index`,
    retentionMs: options.retentionMs,
    maxEvents: options.maxEvents,
    maxEntries: options.maxEntries ?? 200,
    trimEveryMs: options.trimEveryMs ?? 100,
  };
}

/** The JSON of one entry as stored. */
export function journalEntryJson(at: string, entry: NewEntry): string {
  return JSON.stringify({ at, ...entry });
}

/**
 * Lua shared by the enqueue script (arrivals, written with their jobs) and the append script (later
 * entries): append lines to an event's entries, keeping the newest `maxEntries`; trim the index and
 * the hash by age and count, a bounded amount per call (each call trims more than it adds).
 */
export const JOURNAL_LUA = `
local function journalAppend(entriesKey, index, now, eventId, lines, maxEntries)
  if rcall('HSETNX', entriesKey, eventId, lines) == 1 then
    rcall('ZADD', index, now, eventId)
    return
  end
  local all = rcall('HGET', entriesKey, eventId) .. '\\n' .. lines
  local _, newlines = string.gsub(all, '\\n', '')
  for _ = 1, newlines + 1 - maxEntries do all = string.sub(all, string.find(all, '\\n', 1, true) + 1) end
  rcall('HSET', entriesKey, eventId, all)
end
local function journalTrim(entriesKey, index, now, retention, maxEvents, limit)
  if limit == 0 then return end
  local old = rcall('ZRANGEBYSCORE', index, '-inf', '(' .. (tonumber(now) - retention), 'LIMIT', 0, limit)
  local over = rcall('ZCARD', index) - #old - maxEvents
  if over > 0 then
    for _, id in ipairs(rcall('ZRANGE', index, #old, #old + math.min(over, limit) - 1)) do old[#old + 1] = id end
  end
  if #old > 0 then
    rcall('HDEL', entriesKey, unpack(old))
    rcall('ZREM', index, unpack(old))
  end
end
`;

// ARGV: entries key, index key, now, retention ms, max events, max entries, trim limit (0: none), then per event: id, lines.
const APPEND_LUA = `local rcall = redis.call
${JOURNAL_LUA}
local entriesKey, index, now = ARGV[1], ARGV[2], ARGV[3]
local n = (#ARGV - 7) / 2
for i = 0, n - 1 do journalAppend(entriesKey, index, now, ARGV[8 + i * 2], ARGV[9 + i * 2], tonumber(ARGV[6])) end
journalTrim(entriesKey, index, now, tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[7]))
`;

type WithAppend = Redis & { switchboardJournalAppend(...args: (string | number)[]): Promise<unknown> };

export class Journal {
  readonly layout: JournalLayout;
  private readonly redis: WithAppend;
  private buffered: { eventId: string; entries: string[] }[] = [];
  private readonly trim: TrimSchedule;

  constructor(
    redis: Redis,
    prefix: string,
    options: JournalOptions,
    private readonly log: Logger,
  ) {
    this.layout = journalLayout(prefix, options);
    this.trim = new TrimSchedule(this.layout.trimEveryMs);
    if (!(redis as unknown as Partial<WithAppend>).switchboardJournalAppend) redis.defineCommand('switchboardJournalAppend', { numberOfKeys: 0, lua: APPEND_LUA });
    this.redis = redis as WithAppend;
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
    const { entriesKey, indexKey, retentionMs, maxEvents, maxEntries } = this.layout;
    const now = Date.now();
    const args: (string | number)[] = [entriesKey, indexKey, now, retentionMs, maxEvents, maxEntries, this.trim.next(batch.length, now)];
    for (const { eventId, entries } of batch) args.push(eventId, entries.join('\n'));
    this.redis.switchboardJournalAppend(...args).catch((err: Error) => this.log.debug({ err: err.message }, 'journal entries not written'));
  }

  async get(eventId: string): Promise<JournalEntry[] | undefined> {
    const lines = await this.redis.hget(this.layout.entriesKey, eventId);
    return lines ? lines.split('\n').map((line) => JSON.parse(line) as JournalEntry) : undefined;
  }

  /** The most recent event ids, newest first. */
  async recent(limit = 50): Promise<{ id: string; at: string }[]> {
    const rows = await this.redis.zrevrange(this.layout.indexKey, 0, limit - 1, 'WITHSCORES');
    const out: { id: string; at: string }[] = [];
    for (let i = 0; i < rows.length; i += 2) out.push({ id: rows[i]!, at: new Date(Number(rows[i + 1])).toISOString() });
    return out;
  }
}
