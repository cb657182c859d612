/**
 * The event journal: for each event, when and where it arrived, where it was routed, every attempt with
 * its outcome, and what it emitted. Kept in Redis with bounded retention (age and count), written off
 * the request path so it never delays a 2xx.
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

export class Journal {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly options: JournalOptions,
    private readonly log: Logger,
  ) {}

  private key(eventId: string): string {
    return `${this.prefix}:journal:e:${eventId}`;
  }

  /** Appends entries; never throws and is not awaited on hot paths. */
  record(eventId: string, ...entries: NewEntry[]): void {
    const now = Date.now();
    const at = new Date(now).toISOString();
    const key = this.key(eventId);
    const index = `${this.prefix}:journal:index`;
    const pipeline = this.redis.pipeline();
    pipeline.rpush(key, ...entries.map((e) => JSON.stringify({ at, ...e })));
    pipeline.ltrim(key, -(this.options.maxEntries ?? 200), -1);
    pipeline.pexpire(key, this.options.retentionMs);
    pipeline.zadd(index, now, eventId);
    pipeline.zremrangebyscore(index, 0, now - this.options.retentionMs);
    pipeline.zremrangebyrank(index, 0, -(this.options.maxEvents + 1));
    pipeline.exec().catch((err: Error) => this.log.debug({ err: err.message }, 'journal entry not written'));
  }

  async get(eventId: string): Promise<JournalEntry[] | undefined> {
    const raw = await this.redis.lrange(this.key(eventId), 0, -1);
    return raw.length ? raw.map((r) => JSON.parse(r) as JournalEntry) : undefined;
  }

  /** The most recent event ids, newest first. */
  async recent(limit = 50): Promise<{ id: string; at: string }[]> {
    const rows = await this.redis.zrevrange(`${this.prefix}:journal:index`, 0, limit - 1, 'WITHSCORES');
    const out: { id: string; at: string }[] = [];
    for (let i = 0; i < rows.length; i += 2) out.push({ id: rows[i]!, at: new Date(Number(rows[i + 1])).toISOString() });
    return out;
  }
}
