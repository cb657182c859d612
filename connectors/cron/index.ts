/**
 * Scheduled events with node-cron. Every replica fires every tick; the event id is derived from the
 * connector and the scheduled second, so the bus's dedup keeps exactly one per tick.
 */
import type { ScheduledTask } from 'node-cron';
import { Type, type Static } from '@sinclair/typebox';
import { defineConnector, type ConfigProblem } from '../../src/registry/contract.js';
import { createCloudEvent } from '../../src/events/cloudevent.js';
import { lazyModule } from '../../src/lazy-module.js';

/** Loaded when a cron connector is configured: 0.8 MiB of heap that other processes do not hold. */
const cron = lazyModule<typeof import('node-cron')>('node-cron');

export const CronConfigSchema = Type.Object(
  {
    schedule: Type.String({ minLength: 1, description: 'cron expression; six fields for seconds, e.g. "*/10 * * * * *"' }),
    timezone: Type.Optional(Type.String({ minLength: 1, description: 'IANA time zone, e.g. Europe/Paris; defaults to UTC' })),
    type: Type.String({ minLength: 1, default: 'dev.switchboard.cron.tick', description: 'CloudEvent type of each tick' }),
    subject: Type.Optional(Type.String({ minLength: 1 })),
    data: Type.Optional(Type.Unknown({ description: 'static data carried by every tick' })),
  },
  { additionalProperties: false },
);
export type CronConfig = Static<typeof CronConfigSchema>;

const PUBLISH_ATTEMPTS = 3;

export function tickEventId(connector: string, scheduled: Date): string {
  const second = new Date(Math.floor(scheduled.getTime() / 1000) * 1000);
  return `${connector}-${second.toISOString()}`;
}

export default defineConnector({
  type: 'cron',
  description: 'Publishes an event on a cron schedule, once per tick across all replicas.',
  configSchema: CronConfigSchema,

  check(config) {
    const problems: ConfigProblem[] = [];
    const detail = cron().validateDetailed(config.schedule);
    if (!detail.valid) {
      const why = detail.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
      problems.push({ path: ['schedule'], message: `invalid cron expression "${config.schedule}"${why ? ` (${why})` : ''}` });
    }
    if (config.timezone) {
      try {
        new Intl.DateTimeFormat('en', { timeZone: config.timezone });
      } catch {
        problems.push({ path: ['timezone'], message: `unknown time zone "${config.timezone}"` });
      }
    }
    return problems;
  },

  inbound(ctx) {
    const config: CronConfig = ctx.config;
    let task: ScheduledTask | undefined;
    return {
      async start(io) {
        task = cron().schedule(
          config.schedule,
          async ({ date }) => {
            const event = createCloudEvent({
              id: tickEventId(ctx.name, date),
              source: `/switchboard/cron/${ctx.name}`,
              type: config.type,
              time: new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString(),
              ...(config.subject ? { subject: config.subject } : {}),
              ...(config.data !== undefined ? { data: config.data, datacontenttype: 'application/json' } : {}),
              connector: ctx.name,
            });
            for (let attempt = 1; attempt <= PUBLISH_ATTEMPTS && !ctx.signal.aborted; attempt++) {
              try {
                await io.publish([event]);
                ctx.log.debug({ eventId: event.id }, 'tick published');
                return;
              } catch (err) {
                ctx.log.warn({ eventId: event.id, attempt, err: (err as Error).message }, 'tick not published');
                await new Promise((r) => setTimeout(r, 200 * attempt));
              }
            }
          },
          { timezone: config.timezone ?? 'UTC', name: `switchboard-${ctx.name}`, noOverlap: false },
        );
      },
      async close() {
        await task?.destroy();
        task = undefined;
      },
    };
  },
});
