/**
 * Prometheus metrics (prom-client), one registry per Switchboard instance. Labels stay bounded:
 * connector, function, queue, outcome and error code — never an event id.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  eventsReceived: Counter<'connector'>;
  eventsAccepted: Counter<'connector'>;
  eventsRejected: Counter<'connector' | 'reason'>;
  duplicates: Counter<'connector'>;
  enqueueSeconds: Histogram<'connector'>;
  functionRuns: Counter<'function' | 'outcome'>;
  functionSeconds: Histogram<'function'>;
  queueJobs: Gauge<'queue' | 'state'>;
  outboundCalls: Counter<'connector' | 'status'>;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'switchboard_' });
  const registers = [registry];
  return {
    registry,
    eventsReceived: new Counter({ name: 'switchboard_events_received_total', help: 'Events a connector received (accepted, rejected or duplicate).', labelNames: ['connector'], registers }),
    eventsAccepted: new Counter({ name: 'switchboard_events_accepted_total', help: 'Events the bus accepted.', labelNames: ['connector'], registers }),
    eventsRejected: new Counter({ name: 'switchboard_events_rejected_total', help: 'Requests refused, by error code.', labelNames: ['connector', 'reason'], registers }),
    duplicates: new Counter({ name: 'switchboard_events_duplicate_total', help: 'Jobs not enqueued because the event was already known (dedup).', labelNames: ['connector'], registers }),
    enqueueSeconds: new Histogram({ name: 'switchboard_enqueue_duration_seconds', help: 'From publish to Redis holding the jobs.', labelNames: ['connector'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers }),
    functionRuns: new Counter({ name: 'switchboard_function_runs_total', help: 'Function and route runs by outcome (succeeded, failed, dead-lettered).', labelNames: ['function', 'outcome'], registers }),
    functionSeconds: new Histogram({ name: 'switchboard_function_duration_seconds', help: 'Function and route run time.', labelNames: ['function'], buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers }),
    outboundCalls: new Counter({ name: 'switchboard_outbound_calls_total', help: 'Outbound calls by connector and answer (HTTP status, or error).', labelNames: ['connector', 'status'], registers }),
    queueJobs: new Gauge({ name: 'switchboard_queue_jobs', help: 'Jobs per queue and state (waiting, active, delayed, failed = dead letters), read at scrape time.', labelNames: ['queue', 'state'], registers }),
  };
}
