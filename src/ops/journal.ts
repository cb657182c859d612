/**
 * The event journal: for each event, when and where it arrived, where it was routed, every attempt with
 * its outcome, and what it emitted. Kept in Redis with bounded retention (age and count), written off
 * the request path so it never delays a 2xx: entries (arrivals from the bus, attempts and emissions from
 * workers) are buffered for up to `flushDelayMs` (200 ms) and written in one script call.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
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
  /** Entries a lookup returns for one event: its newest. */
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
 * Where the journal lives in Redis, all under one key prefix. Entries are appended, never indexed: each
 * write adds one block of records (one JSON array per line) to a list per segment, arrivals and later
 * entries (attempts, emissions…) apart, and a lookup scans the segments for the event's records. So a
 * write costs Redis one command per call whatever it carries, and a process formats no JSON object per
 * entry; lookups (the admin API, rare) pay instead, one script call per segment. A segment takes at most
 * an eighth of `maxEvents` records in each list and an eighth of the retention in time; the oldest leaves
 * whole (UNLINK) once the segments would hold more than `maxEvents` arrivals, or once its last write is
 * past the retention. Memory stays bounded at any rate: an arrival is kept for the retention (up to an
 * eighth longer) or until `maxEvents` newer ones arrived (up to an eighth sooner).
 *
 * - `<base>segments`: list of "<id> <first write ms> <last write ms> <arrivals> <later entries>", oldest
 *   first; writes go to the last. An item without counts is a segment of the earlier, hashed layout.
 * - `<base>log:<id>` and `<base>log:<id>:later`: the segment's blocks, each "\n<record>\n<record>…".
 * - `<base>seg:<id>` and `<base>seg:<id>:later`: a segment of the earlier layout (event id → JSON lines),
 *   read until it leaves.
 *
 * Records: an arrival is `[event id, ms, origin, type, source, [functions]]`, a later entry
 * `[event id, ms, entry]`; each line starts with the event id's JSON, which is what a lookup finds.
 */
export interface JournalLayout {
  base: string;
  retentionMs: number;
  /** Records a segment's list takes, segments kept, and how long a segment is written to: decided here, followed by the Lua. */
  segmentCapacity: number;
  segments: number;
  segmentSpanMs: number;
  /** Entries a lookup returns for one event: its newest. */
  maxEntries: number;
  flushDelayMs: number;
}

/** Records per segment's list: an eighth of the events kept (segments hold at most `maxEvents` arrivals together). */
export function segmentCapacity(maxEvents: number): number {
  return Math.ceil(maxEvents / 8);
}

export function journalLayout(prefix: string, options: JournalOptions): JournalLayout {
  const capacity = segmentCapacity(options.maxEvents);
  return {
    base: `${prefix}:journal:`,
    retentionMs: options.retentionMs,
    segmentCapacity: capacity,
    segments: Math.floor(options.maxEvents / capacity),
    segmentSpanMs: Math.max(Math.floor(options.retentionMs / 8), 1),
    maxEntries: options.maxEntries ?? 200,
    flushDelayMs: options.flushDelayMs ?? 200,
  };
}

/** The layout as the append script's ARGV[2] to ARGV[6], in the order `journalOpen` reads them. */
function journalArgs(layout: JournalLayout): (string | number)[] {
  return [layout.base, layout.retentionMs, layout.segmentCapacity, layout.segments, layout.segmentSpanMs];
}

/** Where an event came from: a connector (by name), or a function that emitted it. */
export type ArrivalOrigin = string | { function: string };

/** A segment as its item in `<base>segments` names it; `counted` is false for a segment of the hashed layout. */
function segmentOf(item: string): { id: string; lastMs: number; counted: boolean } {
  const [id, , last, arrivals] = item.split(' ');
  return { id: id!, lastMs: Number(last), counted: arrivals !== undefined };
}

/**
 * The append script. `journalOpen` finds the segment to write (opening a new one when the current is
 * full or old enough) and drops segments past the retention; `journalWrite` appends a block, split where
 * a segment fills. A few commands per call, none per record.
 * ARGV: now, journalArgs (5), the number of arrivals and of later entries, then their blocks.
 */
const APPEND_LUA = `local rcall = redis.call
local function journalParse(item)
  local f = {}
  for part in string.gmatch(item, '%S+') do f[#f + 1] = part end
  return f[1], tonumber(f[2]), tonumber(f[3]), tonumber(f[4]), tonumber(f[5])
end
local function journalDropOldest(j)
  local id = journalParse(rcall('LPOP', j.list))
  local seg, log = j.base .. 'seg:' .. id, j.base .. 'log:' .. id
  rcall('UNLINK', seg, seg .. ':later', log, log .. ':later')
end
local function journalSave(j)
  rcall('LSET', j.list, -1, j.id .. ' ' .. j.start .. ' ' .. j.now .. ' ' .. j.arrivals .. ' ' .. j.later)
end
local function journalRoll(j)
  if j.dirty then journalSave(j) end
  j.id = tostring(rcall('INCR', j.base .. 'seq'))
  j.start, j.arrivals, j.later, j.dirty = j.now, 0, 0, false
  rcall('RPUSH', j.list, j.id .. ' ' .. j.now .. ' ' .. j.now .. ' 0 0')
  while rcall('LLEN', j.list) > j.maxSegments do journalDropOldest(j) end
end
-- ARGV[1]: now; ARGV[2] to ARGV[6]: journalArgs (base, retention ms, segment capacity, segments, segment span ms).
local function journalOpen()
  local retention, span = tonumber(ARGV[3]), tonumber(ARGV[6])
  local j = { base = ARGV[2], list = ARGV[2] .. 'segments', now = tonumber(ARGV[1]), cap = tonumber(ARGV[4]), maxSegments = tonumber(ARGV[5]), dirty = false }
  local item = rcall('LINDEX', j.list, -1)
  local _
  if item then j.id, j.start, _, j.arrivals, j.later = journalParse(item) end
  -- A segment of the hashed layout (no counts) is never written again.
  if not (item and j.later) or j.now - j.start >= span or j.arrivals >= j.cap or j.later >= j.cap then journalRoll(j) end
  while true do
    local id, _, last = journalParse(rcall('LINDEX', j.list, 0))
    if id == j.id or last > j.now - retention then break end
    journalDropOldest(j)
  end
  return j
end
-- Appends a block of n records ("\\n" before each) to the arrivals or the later entries, rolling to a new
-- segment where one fills: the block is cut before the record that does not fit.
local function journalWrite(j, block, n, later)
  while n > 0 do
    if (later and j.later or j.arrivals) >= j.cap then journalRoll(j) end
    local taken, part = math.min(n, j.cap - (later and j.later or j.arrivals)), block
    if taken < n then
      local cut = 0
      for _ = 1, taken + 1 do cut = string.find(block, '\\n', cut + 1, true) end
      part, block = string.sub(block, 1, cut - 1), string.sub(block, cut)
    end
    rcall('RPUSH', j.base .. 'log:' .. j.id .. (later and ':later' or ''), part)
    if later then j.later = j.later + taken else j.arrivals = j.arrivals + taken end
    j.dirty, n = true, n - taken
  end
end
local j = journalOpen()
journalWrite(j, ARGV[9], tonumber(ARGV[7]), false)
journalWrite(j, ARGV[10], tonumber(ARGV[8]), true)
if j.dirty then journalSave(j) end
`;

// ARGV: base, segment id, 1 for a counted segment (0: hashed layout), event id, the start of its records
// ("\\n[<id JSON>,"). The event's lines in one segment: records, or JSON lines of the hashed layout.
// Blocks are read 64 at a time, so a lookup holds little memory in Redis whatever the segment's size.
const GET_LUA = `local rcall = redis.call
local base, seg, counted, eventId, start = ARGV[1], ARGV[2], ARGV[3] == '1', ARGV[4], ARGV[5]
local found = {}
if not counted then
  found[#found + 1] = rcall('HGET', base .. 'seg:' .. seg, eventId) or nil
  found[#found + 1] = rcall('HGET', base .. 'seg:' .. seg .. ':later', eventId) or nil
  return found
end
for _, key in ipairs({ base .. 'log:' .. seg, base .. 'log:' .. seg .. ':later' }) do
  local n = rcall('LLEN', key)
  for from = 0, n - 1, 64 do
    for _, block in ipairs(rcall('LRANGE', key, from, from + 63)) do
      local at = string.find(block, start, 1, true)
      while at do
        local stop = string.find(block, '\\n', at + 1, true)
        found[#found + 1] = string.sub(block, at + 1, (stop or 0) - 1)
        at = stop and string.find(block, start, stop, true)
      end
    end
  end
end
return found
`;

// ARGV: base, now. Moves a journal of the earliest layouts (one hash of every event) into one segment of
// the hashed layout, and drops the indexes and the recent list the earlier layouts kept (arrivals now list themselves).
const MIGRATE_LUA = `local rcall = redis.call
local base, now = ARGV[1], ARGV[2]
rcall('UNLINK', base .. 'recent', base .. 'timeline', base .. 'index')
if rcall('TYPE', base .. 'entries').ok ~= 'hash' then return 0 end
local id = rcall('INCR', base .. 'seq')
rcall('RENAME', base .. 'entries', base .. 'seg:' .. id)
rcall('LPUSH', base .. 'segments', id .. ' ' .. now .. ' ' .. now)
return 1
`;

/** Records written at once, without waiting for the delay: bounds a call's size. */
export const JOURNAL_MAX_BATCH = 1000;

type WithScripts = Redis & {
  switchboardJournalAppend(...args: (string | number | Buffer)[]): Promise<unknown>;
  switchboardJournalGet(base: string, segment: string, counted: number, eventId: string, start: string): Promise<string[]>;
  switchboardJournalMigrate(base: string, now: number): Promise<number>;
};

/**
 * Records waiting to be written, as one block of UTF-8 text ("\n<record>\n<record>…") in a buffer
 * outside the JS heap. Kept as strings, up to `flushDelayMs` of records were alive at each young
 * collection, and copying them was most of what a worker's collections copied at 1,000 events/s (about
 * 57 of 93 KB, and the pauses' length with it: bench/HISTORY.md, the thirty-first session).
 */
class PendingRecords {
  count = 0;
  private block = Buffer.allocUnsafeSlow(PENDING_BLOCK_BYTES);
  private length = 0;

  append(record: string): void {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    const needed = this.length + 1 + record.length * 3;
    if (needed > this.block.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(needed, this.block.length * 2));
      this.block.copy(grown, 0, 0, this.length);
      this.block = grown;
    }
    this.block[this.length++] = 0x0a;
    this.length += this.block.write(record, this.length);
    this.count++;
  }

  /** The block so far (empty when none waits), and a fresh one for the records after it. */
  take(): Buffer | string {
    if (this.count === 0) return '';
    const block = this.block.subarray(0, this.length);
    this.block = Buffer.allocUnsafeSlow(Math.max(PENDING_BLOCK_BYTES, this.length));
    this.length = this.count = 0;
    return block;
  }
}

/** A pending block's first size: about 100 records; it doubles as needed. */
const PENDING_BLOCK_BYTES = 16 * 1024;

export class Journal {
  private readonly redis: WithScripts;
  /** Waiting to be written: arrivals, and the entries after them. */
  private readonly arrivals = new PendingRecords();
  private readonly later = new PendingRecords();
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

  /** A journal of the earliest layout (one hash) becomes the oldest segment; earlier indexes go. Idempotent; run once at startup. */
  async migrate(): Promise<void> {
    await this.redis.switchboardJournalMigrate(this.layout.base, Date.now());
  }

  /**
   * Appends entries after an event's arrival (attempts, emissions…); never throws and is not awaited.
   * Entries recorded within `flushDelayMs` of each other share one script call (sooner once
   * `JOURNAL_MAX_BATCH` records wait); `close` writes what is left.
   */
  record(eventId: string, ...entries: NewEntry[]): void {
    const ms = Date.now();
    for (const entry of entries) this.later.append(JSON.stringify([eventId, ms, entry]));
    this.scheduleFlush();
  }

  /** An event's arrival (its received and routed entries), once Redis has its jobs; written like `record`'s entries. */
  arrive(eventId: string, ms: number, from: ArrivalOrigin, event: { type: string; source: string }, to: string[]): void {
    this.arrivals.append(JSON.stringify([eventId, ms, from, event.type, event.source, to]));
    this.scheduleFlush();
  }

  /** After each record is buffered: the first starts the delay, the batch bound flushes at once. */
  private scheduleFlush(): void {
    const waiting = this.arrivals.count + this.later.count;
    // Unref'd: the Redis connection keeps a running process alive, and close() writes what waits.
    if (waiting === 1) this.flushTimer = setTimeout(() => this.flush(), this.layout.flushDelayMs).unref();
    else if (waiting >= JOURNAL_MAX_BATCH) this.flush();
  }

  /** Writes the entries still waiting and waits for every append sent so far. */
  async close(): Promise<void> {
    this.flush();
    await this.lastWrite;
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.arrivals.count + this.later.count === 0) return;
    const args = [Date.now(), ...journalArgs(this.layout), this.arrivals.count, this.later.count, this.arrivals.take(), this.later.take()];
    this.lastWrite = this.redis.switchboardJournalAppend(...args).catch((err: Error) => this.failed.report(err.message));
  }

  /** The segments, oldest first. */
  private async segments(): Promise<ReturnType<typeof segmentOf>[]> {
    return (await this.redis.lrange(`${this.layout.base}segments`, 0, -1)).map(segmentOf);
  }

  /** An event's entries in the order they happened, its newest `maxEntries`; undefined when no segment has any. */
  async get(eventId: string): Promise<JournalEntry[] | undefined> {
    const segments = await this.segments();
    // Every record is a line that starts with its event id's JSON.
    const start = `\n[${JSON.stringify(eventId)},`;
    // One call per segment: a lookup never holds Redis for the whole journal's scan at once.
    const found = await Promise.all(segments.map((s) => this.redis.switchboardJournalGet(this.layout.base, s.id, s.counted ? 1 : 0, eventId, start)));
    const entries: JournalEntry[] = [];
    for (const lines of found) for (const text of lines) for (const line of text.split('\n')) entries.push(...entriesOf(line));
    if (entries.length === 0) return undefined;
    // A stable sort by time: entries of one instant keep their written order.
    entries.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    return entries.slice(-this.layout.maxEntries);
  }

  /** The most recent arrivals, newest first (an event delivered again is listed once, at its latest arrival), at most `limit`. */
  async recent(limit = 50): Promise<{ id: string; at: string }[]> {
    const since = Date.now() - this.layout.retentionMs;
    const segments = await this.segments();
    const seen = new Set<string>();
    const events: { id: string; at: string }[] = [];
    const PAGE = 64;
    for (let s = segments.length - 1; s >= 0 && events.length < limit; s--) {
      const segment = segments[s]!;
      // Segments of the hashed layout are older than every counted one, and list no arrivals.
      if (!segment.counted || segment.lastMs < since) break;
      for (let end = -1; events.length < limit; end -= PAGE) {
        const blocks = await this.redis.lrange(`${this.layout.base}log:${segment.id}`, end - PAGE + 1, end);
        for (let b = blocks.length - 1; b >= 0 && events.length < limit; b--) {
          const records = blocks[b]!.split('\n');
          for (let r = records.length - 1; r >= 1 && events.length < limit; r--) {
            const [id, ms] = JSON.parse(records[r]!) as [string, number];
            if (ms < since || seen.has(id)) continue;
            seen.add(id);
            events.push({ id, at: new Date(ms).toISOString() });
          }
        }
        if (blocks.length < PAGE) break;
      }
    }
    return events;
  }
}

/** The entries one stored line holds: an arrival record (received, routed), a later entry, or a JSON line of the hashed layout. */
function entriesOf(line: string): JournalEntry[] {
  if (!line.startsWith('[')) return [JSON.parse(line) as JournalEntry];
  const record = JSON.parse(line) as unknown[];
  const at = new Date(record[1] as number).toISOString();
  if (record.length === 3) return [{ at, ...(record[2] as NewEntry) } as JournalEntry];
  const [, , from, type, source, to] = record as [string, number, ArrivalOrigin, string, string, string[]];
  const origin = typeof from === 'string' ? { connector: from } : { function: from.function };
  return [{ at, kind: 'received', ...origin, type, source } as JournalEntry, { at, kind: 'routed', to }];
}
