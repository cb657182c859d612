/**
 * The event journal: for each event, when and where it arrived, where it was routed, every attempt with
 * its outcome, and what it emitted. Kept in Redis with bounded retention (age and count), written off
 * the request path so it never delays a 2xx: entries (arrivals from the bus, attempts and emissions from
 * workers) are buffered for up to `flushDelayMs` (200 ms) and written in one script call.
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
  /**
   * How long entries wait for others to share their Redis call. Not on any event's path: at 1,000
   * events/s a worker otherwise makes one extra call per run, whose wake-ups in the worker and Redis
   * delayed the next function's start (p50 +0.08 ms end to end); and at saturation 50 ms ran end to
   * end 1.21× the rate of 10 ms (median of 8 paired rounds), and 200 ms 1.05× the rate of 50 ms (in two
   * sessions' paired rounds, 6 and 8).
   */
  flushDelayMs?: number;
}

/**
 * Where the journal lives in Redis, all under one key prefix. Entries go to segments: a hash of
 * arrivals (event id → its received and routed entries as JSON lines) and a hash of later entries
 * (attempts, emissions…), both created per segment and dropped whole with UNLINK. A segment takes at
 * most an eighth of `maxEvents` events in each hash and an eighth of the retention in time; the oldest
 * leaves once the segments would hold more than `maxEvents` events, or once its last write is past the
 * retention. So writers never trim per event (no index to keep in order, no per-event delete), and
 * memory stays bounded at any rate: an event is kept for the retention (up to an eighth longer) or
 * until `maxEvents` newer ones arrived (up to an eighth sooner).
 *
 * - `<base>segments`: list of "<id> <first write ms> <last write ms>", oldest first; writes go to the last.
 * - `<base>seg:<id>` and `<base>seg:<id>:later`: the segment's hashes.
 * - `<base>recent`: list of "<ms> <event id>" per arrival, newest last, capped (the admin API's list).
 */
export interface JournalLayout {
  base: string;
  retentionMs: number;
  /** Events a segment's hash takes, segments kept, and how long a segment is written to: decided here, followed by the Lua. */
  segmentCapacity: number;
  segments: number;
  segmentSpanMs: number;
  maxEntries: number;
  flushDelayMs: number;
  /** Arrivals listed in `recent`: no more than the segments surely keep (bounded by the admin API's 1,000). */
  recentMax: number;
}

/** Arrivals per segment: an eighth of the events kept (segments hold at most `maxEvents` together). */
export function segmentCapacity(maxEvents: number): number {
  return Math.ceil(maxEvents / 8);
}

export function journalLayout(prefix: string, options: JournalOptions): JournalLayout {
  const capacity = segmentCapacity(options.maxEvents);
  const segments = Math.floor(options.maxEvents / capacity);
  return {
    base: `${prefix}:journal:`,
    retentionMs: options.retentionMs,
    segmentCapacity: capacity,
    segments,
    segmentSpanMs: Math.max(Math.floor(options.retentionMs / 8), 1),
    maxEntries: options.maxEntries ?? 200,
    flushDelayMs: options.flushDelayMs ?? 200,
    // Every segment but the newest is full when one is dropped by count, so the newest (segments − 1) × capacity arrivals are always kept.
    recentMax: Math.min(1000, Math.max(capacity, (segments - 1) * capacity)),
  };
}

/** The layout as the append script's ARGV[2] to ARGV[7], in the order `journalOpen` reads them. */
function journalArgs(layout: JournalLayout): (string | number)[] {
  return [layout.base, layout.retentionMs, layout.segmentCapacity, layout.segments, layout.segmentSpanMs, layout.maxEntries];
}

/** The JSON of one entry as stored: `at` first, then the entry's own fields (no spread copy; runs once per run in workers). */
export function journalEntryJson(at: string, entry: NewEntry): string {
  return `{"at":"${at}",${JSON.stringify(entry).slice(1)}`;
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
 * Lua of the append script (and `journalParse` for the read script). `journalOpen` finds the segment
 * to write (opening a new one when the current is full or old enough) and drops segments past the
 * retention: a few commands per call, none per event. Uses `rcall` and `callEach` (CALL_EACH_LUA),
 * which the including script defines.
 */
const JOURNAL_LUA = `
local function journalParse(item)
  local s1 = string.find(item, ' ', 1, true)
  local s2 = string.find(item, ' ', s1 + 1, true)
  return string.sub(item, 1, s1 - 1), tonumber(string.sub(item, s1 + 1, s2 - 1)), tonumber(string.sub(item, s2 + 1))
end
local function journalDropOldest(j)
  local id = journalParse(rcall('LPOP', j.list))
  rcall('UNLINK', j.base .. 'seg:' .. id, j.base .. 'seg:' .. id .. ':later')
end
local function journalRoll(j)
  j.id = tostring(rcall('INCR', j.base .. 'seq'))
  j.start, j.count, j.laterCount, j.key = j.now, 0, 0, j.base .. 'seg:' .. j.id
  rcall('RPUSH', j.list, j.id .. ' ' .. j.now .. ' ' .. j.now)
  while rcall('LLEN', j.list) > j.maxSegments do journalDropOldest(j) end
end
-- ARGV[1]: now; ARGV[2] to ARGV[7]: journalArgs (base, retention ms, segment capacity, segments, segment span ms, max entries).
local function journalOpen()
  local base, retention, span = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[6])
  local j = { base = base, list = base .. 'segments', now = tonumber(ARGV[1]), cap = tonumber(ARGV[4]), maxSegments = tonumber(ARGV[5]), maxEntries = tonumber(ARGV[7]) }
  local item = rcall('LINDEX', j.list, -1)
  if item then
    j.id, j.start = journalParse(item)
    j.key = base .. 'seg:' .. j.id
    j.count, j.laterCount = rcall('HLEN', j.key), rcall('HLEN', j.key .. ':later')
  end
  if not item or j.now - j.start >= span or j.count >= j.cap or j.laterCount >= j.cap then journalRoll(j)
  else rcall('LSET', j.list, -1, j.id .. ' ' .. j.start .. ' ' .. j.now) end
  while true do
    local id, _, last = journalParse(rcall('LINDEX', j.list, 0))
    if id == j.id or last > j.now - retention then break end
    journalDropOldest(j)
  end
  return j
end
-- An event's entries joined with more, keeping the newest maxEntries.
local function journalJoin(earlier, lines, maxEntries)
  local all = earlier .. '\\n' .. lines
  -- Every entry is at least 49 characters ({"at":"<24>","kind":"<6 or more>"…}) and a line break: a
  -- shorter text holds at most maxEntries entries, and needs no counting.
  if #all >= 50 * maxEntries then
    local _, newlines = string.gsub(all, '\\n', '')
    for _ = 1, newlines + 1 - maxEntries do all = string.sub(all, string.find(all, '\\n', 1, true) + 1) end
  end
  return all
end
-- Writes ARGV[from] to ARGV[to - 1], pairs of event id and entries, to the current segment's arrivals
-- (later false; new ones listed in recent) or later entries. Per chunk one HMGET and one HSET, not a
-- command per event: an event already in the segment (a redelivery, a retry) or listed twice gets its
-- entries joined. A chunk takes no more events than the segment has room for, so segments roll between chunks.
-- Later entries go to the current segment, wherever the event's arrival is, and count toward its fill:
-- a worker draining a backlog while nothing arrives still rolls and drops segments.
local function journalWrite(j, from, to, later, recent)
  local i = from
  while i < to do
    if (later and j.laterCount or j.count) >= j.cap then journalRoll(j) end
    local room = math.min(j.cap - (later and j.laterCount or j.count), 1000)
    local key = later and (j.key .. ':later') or j.key
    local ids, texts, index = {}, {}, {}
    while i < to and (#ids < room or index[ARGV[i]]) do
      local id, lines = ARGV[i], ARGV[i + 1]
      local k = index[id]
      if k then texts[k] = journalJoin(texts[k], lines, j.maxEntries)
      else
        ids[#ids + 1], texts[#ids + 1] = id, lines
        index[id] = #ids
      end
      i = i + 2
    end
    local earlier, fields, added = rcall('HMGET', key, unpack(ids)), {}, 0
    for k = 1, #ids do
      if earlier[k] then texts[k] = journalJoin(earlier[k], texts[k], j.maxEntries)
      else
        added = added + 1
        if recent then recent[#recent + 1] = j.now .. ' ' .. ids[k] end
      end
      fields[2 * k - 1], fields[2 * k] = ids[k], texts[k]
    end
    rcall('HSET', key, unpack(fields))
    if later then j.laterCount = j.laterCount + added else j.count = j.count + added end
  end
end
local function journalRecent(j, recent, recentMax)
  if #recent == 0 then return end
  callEach('RPUSH', j.base .. 'recent', recent)
  rcall('LTRIM', j.base .. 'recent', -recentMax, -1)
end
`;

// ARGV: now, journalArgs (6), the length of the recent list, the number of arrivals, then per arrival and
// then per later entry: event id, lines.
const APPEND_LUA = `local rcall = redis.call
${CALL_EACH_LUA}
${JOURNAL_LUA}
local j = journalOpen()
local laterFrom = 10 + 2 * tonumber(ARGV[9])
local recent = {}
journalWrite(j, 10, laterFrom, false, recent)
journalRecent(j, recent, tonumber(ARGV[8]))
journalWrite(j, laterFrom, #ARGV + 1, true)
`;

// ARGV: base, event id: every segment's entries for the event, oldest segment first, arrivals before later entries.
const GET_LUA = `local rcall = redis.call
${CALL_EACH_LUA}
${JOURNAL_LUA}
local base, eventId = ARGV[1], ARGV[2]
local found = {}
for _, item in ipairs(rcall('LRANGE', base .. 'segments', 0, -1)) do
  local id = journalParse(item)
  found[#found + 1] = rcall('HGET', base .. 'seg:' .. id, eventId) or nil
  found[#found + 1] = rcall('HGET', base .. 'seg:' .. id .. ':later', eventId) or nil
end
return table.concat(found, '\\n')
`;

// ARGV: base, now, recent max. Moves a journal of the earlier layouts (one hash of every event, indexed
// by a timeline list or, before it, a sorted set) into one segment, and their newest events to recent.
const MIGRATE_LUA = `local rcall = redis.call
local base, now, recentMax = ARGV[1], ARGV[2], tonumber(ARGV[3])
local function toRecent(items)
  for i = #items, 1, -1 do rcall('LPUSH', base .. 'recent', items[i]) end
  rcall('LTRIM', base .. 'recent', -recentMax, -1)
end
if rcall('TYPE', base .. 'timeline').ok == 'list' then
  toRecent(rcall('LRANGE', base .. 'timeline', -recentMax, -1))
  rcall('DEL', base .. 'timeline')
end
if rcall('TYPE', base .. 'index').ok == 'zset' then
  local rows, items = rcall('ZRANGE', base .. 'index', -recentMax, -1, 'WITHSCORES'), {}
  for i = 1, #rows, 2 do items[#items + 1] = rows[i + 1] .. ' ' .. rows[i] end
  toRecent(items)
  rcall('DEL', base .. 'index')
end
if rcall('TYPE', base .. 'entries').ok ~= 'hash' then return 0 end
local id = rcall('INCR', base .. 'seq')
rcall('RENAME', base .. 'entries', base .. 'seg:' .. id)
rcall('LPUSH', base .. 'segments', id .. ' ' .. now .. ' ' .. now)
return 1
`;

/** Events whose entries are written at once, without waiting for the delay: bounds a call's size. */
export const JOURNAL_MAX_BATCH = 1000;

type WithScripts = Redis & {
  switchboardJournalAppend(...args: (string | number)[]): Promise<unknown>;
  switchboardJournalGet(base: string, eventId: string): Promise<string>;
  switchboardJournalMigrate(base: string, now: number, recentMax: number): Promise<number>;
};

export class Journal {
  private readonly redis: WithScripts;
  /** Waiting to be written, as event id and lines in turn: arrivals, and later entries. */
  private arrivals: string[] = [];
  private later: string[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  /** The last append sent: one connection answers in order, so awaiting it awaits every earlier one. */
  private lastWrite: Promise<unknown> = Promise.resolve();
  private readonly failed: ThrottledWarning;

  constructor(
    redis: Redis,
    readonly layout: JournalLayout,
    log: Logger,
  ) {
    this.failed = new ThrottledWarning(log, 'event journal: entries not written');
    const scripts = redis as unknown as Partial<WithScripts>;
    if (!scripts.switchboardJournalAppend) redis.defineCommand('switchboardJournalAppend', { numberOfKeys: 0, lua: APPEND_LUA });
    if (!scripts.switchboardJournalGet) redis.defineCommand('switchboardJournalGet', { numberOfKeys: 0, lua: GET_LUA });
    if (!scripts.switchboardJournalMigrate) redis.defineCommand('switchboardJournalMigrate', { numberOfKeys: 0, lua: MIGRATE_LUA });
    this.redis = redis as WithScripts;
  }

  /** Journals of the earlier layouts (one hash, indexed by a timeline or a sorted set) become the oldest segment. Idempotent; run once at startup. */
  async migrate(): Promise<void> {
    await this.redis.switchboardJournalMigrate(this.layout.base, Date.now(), this.layout.recentMax);
  }

  /**
   * Appends entries after an event's arrival (attempts, emissions…); never throws and is not awaited.
   * Entries recorded within `flushDelayMs` of each other share one script call (sooner once
   * `JOURNAL_MAX_BATCH` events wait); `close` writes what is left.
   */
  record(eventId: string, ...entries: NewEntry[]): void {
    const at = nowIso();
    let lines = journalEntryJson(at, entries[0]!);
    for (let i = 1; i < entries.length; i++) lines += `\n${journalEntryJson(at, entries[i]!)}`;
    this.later.push(eventId, lines);
    this.scheduleFlush();
  }

  /** An event's arrival, its lines from `arrivalLines`; written like `record`'s entries, and listed in `recent`. */
  arrive(eventId: string, lines: string): void {
    this.arrivals.push(eventId, lines);
    this.scheduleFlush();
  }

  /** After each entry is buffered: the first starts the delay, the batch bound flushes at once. */
  private scheduleFlush(): void {
    const waiting = this.arrivals.length + this.later.length;
    // Unref'd: the Redis connection keeps a running process alive, and close() writes what waits.
    if (waiting === 2) this.flushTimer = setTimeout(() => this.flush(), this.layout.flushDelayMs).unref();
    else if (waiting >= 2 * JOURNAL_MAX_BATCH) this.flush();
  }

  /** Writes the entries still waiting and waits for every append sent so far. */
  async close(): Promise<void> {
    this.flush();
    await this.lastWrite;
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const { arrivals, later } = this;
    if (arrivals.length + later.length === 0) return;
    this.arrivals = [];
    this.later = [];
    const args = [Date.now(), ...journalArgs(this.layout), this.layout.recentMax, arrivals.length / 2, ...arrivals, ...later];
    this.lastWrite = this.redis.switchboardJournalAppend(...args).catch((err: Error) => this.failed.report(err.message));
  }

  /** An event's entries in the order they happened (arrivals and later entries live in separate hashes), at most `maxEntries`. */
  async get(eventId: string): Promise<JournalEntry[] | undefined> {
    const text = await this.redis.switchboardJournalGet(this.layout.base, eventId);
    if (!text) return undefined;
    // A stable sort by time: entries of one instant keep their written order.
    const entries = text.split('\n').map((line) => JSON.parse(line) as JournalEntry);
    entries.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    return entries.slice(-this.layout.maxEntries);
  }

  /** The most recent event ids, newest first (an event delivered again is listed once, at its latest arrival). */
  async recent(limit = 50): Promise<{ id: string; at: string }[]> {
    const items = await this.redis.lrange(`${this.layout.base}recent`, -limit, -1);
    const since = Date.now() - this.layout.retentionMs;
    const seen = new Set<string>();
    const events: { id: string; at: string }[] = [];
    for (let i = items.length - 1; i >= 0; i--) {
      const item = items[i]!;
      const space = item.indexOf(' ');
      const ms = Number(item.slice(0, space));
      const id = item.slice(space + 1);
      if (ms < since || seen.has(id)) continue;
      seen.add(id);
      events.push({ id, at: new Date(ms).toISOString() });
    }
    return events;
  }
}
