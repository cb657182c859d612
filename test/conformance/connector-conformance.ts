/**
 * The conformance suite every pull- or push-style inbound connector passes, whatever its broker:
 * bad config fails before any I/O; start and close are bounded and idempotent; every event is a valid
 * CloudEvent; nothing is acknowledged before publish resolved, so a message whose publish never
 * resolved comes back — with the same event id — to the next consumer; an acknowledged one does not;
 * no secret reaches the logs.
 */
import { Ajv } from 'ajv';
import type { CloudEvent } from '../../src/events/cloudevent.js';
import { parseCloudEvent } from '../../src/events/cloudevent.js';
import type { ConnectorDefinition, InboundConnector, InboundIO, PoisonEntry } from '../../src/registry/contract.js';
import { captureLogs, waitFor } from '../helpers/index.js';

export interface ConformanceHarness {
  definition: ConnectorDefinition;
  /** A complete, valid config (defaults filled in), pointed at the test's broker. */
  config(): Record<string, unknown>;
  /** A config the schema or the connector's own checks refuse. */
  badConfig: Record<string, unknown>;
  /** A secret value that appears in the config and must never be logged. */
  secret?: string;
  /** Publishes one message upstream with this JSON body. */
  send(body: object): Promise<void>;
  /** How long the broker takes to redeliver an unacknowledged message (lease, ack wait). */
  redeliveryMs: number;
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
}

interface Recording {
  io: InboundIO;
  published: CloudEvent[];
  /** Every publish hangs until released (rejected), when `hold` is set. */
  release(): void;
}

function recordingIo(hold: boolean): Recording {
  const published: CloudEvent[] = [];
  const held: ((err: Error) => void)[] = [];
  return {
    published,
    release: () => held.splice(0).forEach((reject) => reject(new Error('released by the test'))),
    io: {
      publish: (events) => {
        published.push(...events);
        if (hold) return new Promise((_, reject) => held.push(reject));
        return Promise.resolve({ ids: events.map((e) => e.id), routed: events.length });
      },
      deadLetter: async (_entry: PoisonEntry) => {},
    },
  };
}

const ajv = new Ajv({ strict: false, useDefaults: true });
ajv.addKeyword('secret');

/** A config as the loader hands it over: defaults of the connector's schema filled in. */
export function withDefaults(definition: ConnectorDefinition, config: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(config);
  ajv.compile(definition.configSchema)(copy);
  return copy;
}

export function runConformance(name: string, harness: ConformanceHarness): void {
  describe(`connector conformance: ${name}`, () => {
    // Nothing scrubbed here: a leak must show.
    const logs = captureLogs();
    const open: InboundConnector[] = [];
    const make = () => {
      const connector = harness.definition.inbound!({ name: `conf-${name}`, config: harness.config(), log: logs.log, signal: new AbortController().signal });
      open.push(connector);
      return connector;
    };
    beforeAll(async () => {
      await harness.setup?.();
    }, 120_000);
    afterAll(async () => {
      await Promise.allSettled(open.map((c) => c.close()));
      await harness.teardown?.();
    });

    test('a bad config is refused by the schema or the checks, before any I/O', () => {
      const validate = ajv.compile(harness.definition.configSchema);
      const schemaOk = validate(structuredClone(harness.badConfig));
      const problems = schemaOk ? (harness.definition.check?.(harness.badConfig as never) ?? []) : [];
      expect(!schemaOk || problems.length > 0).toBe(true);
      expect(validate(structuredClone(harness.config()))).toBe(true);
    });

    test('start and close are bounded and idempotent', async () => {
      const connector = make();
      const { io } = recordingIo(false);
      const started = Date.now();
      await connector.start(io);
      await connector.close();
      await connector.close();
      expect(Date.now() - started).toBeLessThan(15_000);
    }, 30_000);

    test('nothing is acknowledged before publish resolved: the message comes back with the same id; once acknowledged it does not', async () => {
      const first = make();
      const held = recordingIo(true);
      await first.start(held.io);
      await harness.send({ conformance: name, at: Date.now() });
      const [event] = await waitFor(() => held.published.length > 0 && held.published, 'the first delivery', 30_000);
      expect(parseCloudEvent(event)).toEqual(event);
      // The consumer goes away before its publish ever resolved.
      const closing = first.close();
      held.release();
      await closing;

      const second = make();
      const accepted = recordingIo(false);
      await second.start(accepted.io);
      const again = await waitFor(() => accepted.published.find((e) => e.id === event!.id), 'the redelivery, with the same id', harness.redeliveryMs + 20_000);
      expect(again.source).toBe(event!.source);
      // Give the acknowledgement time to land, then a new consumer must not see the message again.
      await new Promise((r) => setTimeout(r, 500));
      await second.close();

      const third = make();
      const after = recordingIo(false);
      await third.start(after.io);
      await new Promise((r) => setTimeout(r, harness.redeliveryMs + 1500));
      await third.close();
      expect(after.published.filter((e) => e.id === event!.id)).toEqual([]);
    }, 120_000);

    if (harness.secret) {
      test('no secret reaches the logs', () => {
        expect(logs.lines.length).toBeGreaterThan(0);
        expect(logs.lines.join('\n')).not.toContain(harness.secret);
      });
    }
  });
}
