/**
 * The event journal: for each event, when and where it arrived, where it was routed, every attempt with
 * its outcome, and what it emitted. Kept in Redis with bounded retention (age and count), written off
 * the request path so it never delays a 2xx: arrivals are written by the enqueue script itself (see
 * src/bus/enqueue.ts), later entries are buffered for a few milliseconds and appended in one script call.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { CALL_EACH_LUA } from '../bus/lua.js';
import { nowIso } from '../events/cloudevent.js';
import { ThrottledWarning } from '../log.js';

export type JournalEntry =
  | { kind: 'received'; at: string; connector: string; type: string; source: string }
  /** An event a function emitted (its result, ctx.emit, or the failure event) arrives from that function. */
  | { kind: 'received'; at: string; function: string; type: string; source: string }
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
  /**
   * How long later entries (attempts, emits) wait for others to share their Redis call. Not on any
   * event's path: at 1,000 events/s a worker otherwise makes one extra call per run, and each call's
   * wake-ups in the worker and Redis delayed the next function's start (p50 +0.08 ms end to end).
   */
  flushDelayMs?: number;
}

/**
 * Where the journal lives in Redis: one hash, event id → its entries as JSON lines, and a timeline of
 * event ids in order of first entry, which bounds the hash by age and count (memory stays bounded at
 * any rate). The timeline is a list ("<ms> <event id>"), not a sorted set: an append is O(1) and the
 * oldest are always at its head (writers' clocks may disagree by a little; trimming stops at the first
 * entry young enough, so such an entry only leaves a little late).
 */
export interface JournalLayout {
  /** Hash: event id → newline-separated JSON entries, oldest first. */
  entriesKey: string;
  /** List: "<ms> <event id>" per event, oldest first. */
  timelineKey: string;
  retentionMs: number;
  maxEvents: number;
  maxEntries: number;
  trimEveryMs: number;
  flushDelayMs: number;
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
    timelineKey: `${prefix}:journal:timeline`,
    retentionMs: options.retentionMs,
    maxEvents: options.maxEvents,
    maxEntries: options.maxEntries ?? 200,
    trimEveryMs: options.trimEveryMs ?? 100,
    flushDelayMs: options.flushDelayMs ?? 10,
  };
}

/** The JSON of one entry as stored. */
export function journalEntryJson(at: string, entry: NewEntry): string {
  return JSON.stringify({ at, ...entry });
}

/** Where an event came from: a connector (by name), or a function that emitted it. */
export type ArrivalOrigin = string | { function: string };

/**
 * An arrival's two entries (received, routed) as stored: the same JSON as `journalEntryJson` gives,
 * written out directly because it runs once per event on the ingest path.
 */
export function arrivalLines(at: string, from: ArrivalOrigin, event: { type: string; source: string }, to: string[]): string {
  const head = `{"at":"${at}","kind":`;
  const origin = typeof from === 'string' ? `"connector":${JSON.stringify(from)}` : `"function":${JSON.stringify(from.function)}`;
  return `${head}"received",${origin},"type":${JSON.stringify(event.type)},"source":${JSON.stringify(event.source)}}\n${head}"routed","to":${JSON.stringify(to)}}`;
}

/**
 * Lua shared by the enqueue script (arrivals, written with their jobs) and the append script (later
 * entries): append lines to an event's entries, keeping the newest `maxEntries` (events seen for the
 * first time collect in `first`, which goes to the timeline in one push per call); trim the timeline
 * and the hash by age and count, a bounded amount per call (each call trims more than it adds).
 * Uses `rcall` and `callEach` (CALL_EACH_LUA), which the including script defines.
 */
export const JOURNAL_LUA = `
local function journalAppend(entriesKey, now, eventId, lines, maxEntries, first, known)
  -- Arrivals are new events: try to create. Later entries almost always find their event (every
  -- event is journaled as it arrives): read first, one call fewer than a create that fails.
  local all = known and rcall('HGET', entriesKey, eventId)
  if not all then
    if rcall('HSETNX', entriesKey, eventId, lines) == 1 then
      first[#first + 1] = now .. ' ' .. eventId
      return
    end
    all = rcall('HGET', entriesKey, eventId)
  end
  all = all .. '\\n' .. lines
  -- Every entry is at least 49 characters ({"at":"<24>","kind":"<6 or more>"…}) and a line break: a
  -- shorter text holds at most maxEntries entries, and needs no counting.
  if #all >= 50 * maxEntries then
    local _, newlines = string.gsub(all, '\\n', '')
    for _ = 1, newlines + 1 - maxEntries do all = string.sub(all, string.find(all, '\\n', 1, true) + 1) end
  end
  rcall('HSET', entriesKey, eventId, all)
end
local function journalTimeline(timeline, first)
  callEach('RPUSH', timeline, first)
end
local function journalTrim(entriesKey, timeline, now, retention, maxEvents, limit)
  if limit == 0 then return end
  local over = rcall('LLEN', timeline) - maxEvents
  local cutoff = tonumber(now) - retention
  local gone = {}
  -- Read the head in chunks, the first as long as the count is over the cap (plus a few to check by
  -- age), the next only while every item read so far had to go: below the cap, one short read.
  local start, size, done = 0, math.min(limit, math.max(over, 0) + 16), false
  while not done and start < limit do
    local items = rcall('LRANGE', timeline, start, start + size - 1)
    for _, item in ipairs(items) do
      local space = string.find(item, ' ', 1, true)
      if #gone >= over and tonumber(string.sub(item, 1, space - 1)) >= cutoff then done = true break end
      gone[#gone + 1] = string.sub(item, space + 1)
    end
    if #items < size then done = true end
    start = start + size
    size = math.min(limit - start, 64)
  end
  if #gone > 0 then
    rcall('LTRIM', timeline, #gone, -1)
    callEach('HDEL', entriesKey, gone)
  end
end
`;

// ARGV: entries key, timeline key, now, retention ms, max events, max entries, trim limit (0: none), then per event: id, lines.
const APPEND_LUA = `local rcall = redis.call
${CALL_EACH_LUA}
${JOURNAL_LUA}
local entriesKey, timeline, now = ARGV[1], ARGV[2], ARGV[3]
local n = (#ARGV - 7) / 2
local first = {}
for i = 0, n - 1 do journalAppend(entriesKey, now, ARGV[8 + i * 2], ARGV[9 + i * 2], tonumber(ARGV[6]), first, true) end
journalTimeline(timeline, first)
journalTrim(entriesKey, timeline, now, tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[7]))
`;

/** Events whose entries are written at once, without waiting for the delay: bounds a call's size. */
export const JOURNAL_MAX_BATCH = 500;

type WithAppend = Redis & { switchboardJournalAppend(...args: (string | number)[]): Promise<unknown> };

export class Journal {
  private readonly redis: WithAppend;
  private buffered: { eventId: string; entries: string[] }[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  /** The last append sent: one connection answers in order, so awaiting it awaits every earlier one. */
  private lastWrite: Promise<unknown> = Promise.resolve();
  private readonly trim: TrimSchedule;
  private readonly failed: ThrottledWarning;

  constructor(
    redis: Redis,
    readonly layout: JournalLayout,
    log: Logger,
  ) {
    this.trim = new TrimSchedule(layout.trimEveryMs);
    this.failed = new ThrottledWarning(log, 'event journal: entries not written');
    if (!(redis as unknown as Partial<WithAppend>).switchboardJournalAppend) redis.defineCommand('switchboardJournalAppend', { numberOfKeys: 0, lua: APPEND_LUA });
    this.redis = redis as WithAppend;
  }

  /**
   * Journals written before the timeline was a list kept their index in a sorted set
   * (`<prefix>:journal:index`); its events move to the timeline, oldest first, so they still leave by
   * age and count. Idempotent; run once at startup.
   */
  async migrate(): Promise<void> {
    const legacy = this.layout.timelineKey.replace(/timeline$/, 'index');
    if ((await this.redis.type(legacy)) !== 'zset') return;
    const rows = await this.redis.zrange(legacy, 0, -1, 'WITHSCORES');
    const items: string[] = [];
    for (let i = 0; i < rows.length; i += 2) items.push(`${rows[i + 1]} ${rows[i]}`);
    // Pushed to the head newest first, so that the oldest end up first, before any newer arrival.
    const newestFirst = items.reverse();
    const tx = this.redis.multi();
    for (let i = 0; i < newestFirst.length; i += 1000) tx.lpush(this.layout.timelineKey, ...newestFirst.slice(i, i + 1000));
    await tx.del(legacy).exec();
  }

  /**
   * Appends entries; never throws and is not awaited. Entries recorded within `flushDelayMs` of each
   * other share one script call (sooner once `JOURNAL_MAX_BATCH` events wait); `close` writes what is left.
   */
  record(eventId: string, ...entries: NewEntry[]): void {
    const at = nowIso();
    if (this.buffered.length === 0) this.flushTimer = setTimeout(() => this.flush(), this.layout.flushDelayMs);
    this.buffered.push({ eventId, entries: entries.map((e) => journalEntryJson(at, e)) });
    if (this.buffered.length >= JOURNAL_MAX_BATCH) this.flush();
  }

  /** Writes the entries still waiting and waits for every append sent so far. */
  async close(): Promise<void> {
    this.flush();
    await this.lastWrite;
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const batch = this.buffered;
    if (batch.length === 0) return;
    this.buffered = [];
    const { entriesKey, timelineKey, retentionMs, maxEvents, maxEntries } = this.layout;
    const now = Date.now();
    const args: (string | number)[] = [entriesKey, timelineKey, now, retentionMs, maxEvents, maxEntries, this.trim.next(batch.length, now)];
    for (const { eventId, entries } of batch) args.push(eventId, entries.join('\n'));
    this.lastWrite = this.redis.switchboardJournalAppend(...args).catch((err: Error) => this.failed.report(err.message));
  }

  async get(eventId: string): Promise<JournalEntry[] | undefined> {
    const lines = await this.redis.hget(this.layout.entriesKey, eventId);
    return lines ? lines.split('\n').map((line) => JSON.parse(line) as JournalEntry) : undefined;
  }

  /** The most recent event ids, newest first. */
  async recent(limit = 50): Promise<{ id: string; at: string }[]> {
    const items = await this.redis.lrange(this.layout.timelineKey, -limit, -1);
    return items.reverse().map((item) => {
      const space = item.indexOf(' ');
      return { id: item.slice(space + 1), at: new Date(Number(item.slice(0, space))).toISOString() };
    });
  }
}
