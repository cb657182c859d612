/** Cron ticks with two gateway replicas on one bus: every tick is published by both, enqueued once. */
import path from 'node:path';
import { Queue } from 'bullmq';
import type { CloudEvent } from '../../src/events/cloudevent.js';
import { bootSwitchboard, deleteKeys, FIXTURES, REDIS_URL, uniquePrefix, waitFor, type TestSwitchboard } from '../../test/helpers/index.js';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { tickEventId } from './index.js';

const YAML = `
connectors:
  - name: every-second
    type: cron
    config:
      schedule: "* * * * * *"
      type: com.example.tick
      data: { job: cleanup }
functions:
  - name: on-tick
    runtime: node
    module: ./functions/record.js
    trigger: { type: com.example.tick }
`;

describe('cron connector', () => {
  const prefix = uniquePrefix('cron');
  const replicas: TestSwitchboard[] = [];
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.close()));
    await deleteKeys(prefix);
  });

  test('a per-second schedule publishes each tick exactly once with two gateways running', async () => {
    for (let i = 0; i < 2; i++) replicas.push(await bootSwitchboard(YAML, { prefix, worker: false, listen: false }));
    const published = (r: TestSwitchboard) =>
      new Set(r.logs.records().filter((l) => l.msg === 'tick published').map((l) => l.eventId as string));
    // Wait until both replicas have published the same three ticks.
    const shared = await waitFor(() => {
      const [a, b] = replicas.map(published);
      const both = [...a!].filter((id) => b!.has(id));
      return both.length >= 3 && both;
    }, 'both replicas to publish three common ticks', 10_000);
    await Promise.all(replicas.map((r) => r.sb.close()));

    const queue = new Queue('fn.on-tick', { connection: { url: REDIS_URL }, prefix });
    const jobs = await queue.getJobs(['waiting']);
    await queue.close();
    const events = jobs.map((j) => j.data as CloudEvent);
    const ids = events.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of shared) expect(ids.filter((x) => x === id)).toHaveLength(1);
    const allPublished = new Set([...published(replicas[0]!), ...published(replicas[1]!)]);
    expect(ids.length).toBe(allPublished.size);
    expect(events[0]).toMatchObject({ type: 'com.example.tick', source: '/switchboard/cron/every-second', data: { job: 'cleanup' }, connector: 'every-second' });
    expect(events[0]!.time).toMatch(/:\d\d\.000Z$/);
  });

  test('the tick id depends only on the connector and the scheduled second', () => {
    expect(tickEventId('c', new Date('2026-01-01T00:00:05.004Z'))).toBe('c-2026-01-01T00:00:05.000Z');
    expect(tickEventId('c', new Date('2026-01-01T00:00:05.998Z'))).toBe('c-2026-01-01T00:00:05.000Z');
  });

  test('a schedule cron cannot parse, or an unknown time zone, is a config error at its line and field', async () => {
    const yaml = YAML.replace('schedule: "* * * * * *"', 'schedule: "61 * * * *"\n      timezone: Mars/Olympus');
    const rejected = await parseConfig(yaml, path.join(FIXTURES, 'switchboard.yaml'), { env: {} }).catch((err: unknown) => err);
    expect(rejected).toBeInstanceOf(ConfigError);
    const issues = (rejected as ConfigError).issues;
    expect(issues).toEqual([
      expect.objectContaining({ line: 6, path: 'connectors[0].config.schedule', message: expect.stringMatching(/^invalid cron expression "61 \* \* \* \*"/) }),
      expect.objectContaining({ line: 7, path: 'connectors[0].config.timezone', message: 'unknown time zone "Mars/Olympus"' }),
    ]);
  });
});
