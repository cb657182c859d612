// Switchboard, compiled (npm run build), with one signed GitHub webhook connector routed to one
// function. ROLE=gateway enqueues only, ROLE=worker only runs the function, ROLE=dev does both.
// SCALE=N adds N-1 more connectors and functions; JOURNAL=off turns the event journal off,
// JOURNAL_MAX_EVENTS=N bounds it to N events.
import path from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../dist/src/config/load.js';
import { createLogger } from '../../dist/src/log.js';
import { startSwitchboard } from '../../dist/src/switchboard.js';
import { DeliveryTimes } from './delivery-times.mjs';
import { exitWithBench } from './exit-with-bench.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const scale = Number(process.env.SCALE ?? 1);
const role = process.env.ROLE ?? 'gateway';
const hooks = Array.from({ length: scale - 1 }, (_, i) => `  - { name: hook-${i}, type: webhook, config: { provider: github, secret: "\${env:BENCH_SECRET}" } }`);
const fns = Array.from({ length: scale - 1 }, (_, i) => `  - { name: fn-${i}, runtime: node, module: ${path.join(here, 'noop-function.mjs')}, trigger: { type: com.example.other-${i} } }`);
const yaml = `
redis: { prefix: ${process.env.PREFIX ?? 'bench-switchboard'} }
bus: { highWaterMark: ${Number(process.env.HIGH_WATER_MARK ?? 0)} }
journal: { enabled: ${process.env.JOURNAL !== 'off'}${process.env.JOURNAL_MAX_EVENTS ? `, maxEvents: ${process.env.JOURNAL_MAX_EVENTS}` : ''} }
admin: { enabled: false }
connectors:
  - name: github
    type: webhook
    config: { provider: github, secret: "\${env:BENCH_SECRET}" }
${hooks.join('\n')}
functions:
  - name: noop
    runtime: node
    module: ${path.join(here, 'noop-function.mjs')}
    trigger: { type: com.github.push }
    concurrency: ${Number(process.env.CONCURRENCY ?? 50)}
${fns.join('\n')}
`;
const config = await parseConfig(yaml, path.join(here, 'bench.yaml'));
const sb = await startSwitchboard({
  config,
  gateway: role !== 'worker',
  worker: role !== 'gateway',
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  log: createLogger({ level: 'warn' }),
  listen: { host: '127.0.0.1', port: Number(process.env.PORT ?? 0) },
  importModule: (specifier) => import(specifier),
});
const { answerRunsMessage } = await import('./noop-function.mjs');
// When each request had arrived, body included (by the GitHub delivery id, which becomes the event id;
// epoch ms): the end-to-end latency runs from here to the function's start, as the performance issue
// defines it. Recorded only between the messages { reset } and 'received' (the latency rounds): at
// saturation the bookkeeping cost the gateway ~15 % of its rate.
const receivedAt = new DeliveryTimes();
const now = () => performance.timeOrigin + performance.now();
// Young collections (count, ms) and full ones (mark-compacts) so far, for the bench's per-round log: the
// young generation's capacity moves a gateway's cost from round to round (bench/HISTORY.md, the thirtieth
// session). Incremental marking and weak-callback entries are neither: one full collection made several.
const collections = { young: 0, youngMs: 0, full: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = entry.detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) collections.full++;
    else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
      collections.young++;
      collections.youngMs += entry.duration;
    }
  }
}).observe({ entryTypes: ['gc'] });
// Listening only while recording: a second 'request' listener costs every request of the ingest rounds
// (the server's emit then copies its listener array).
const recordArrival = (request) => {
  const id = request.headers['x-github-delivery'];
  if (typeof id === 'string') request.once('end', () => receivedAt.set(id, now()));
};
process.on('message', (message) => {
  if (message === 'collections') return process.send?.({ ...collections });
  if (message === 'received') {
    sb.gateway?.app.server.off('request', recordArrival);
    return process.send?.({ receivedAt });
  }
  if (message?.reset !== undefined) {
    receivedAt.reset(message.reset);
    sb.gateway?.app.server.off('request', recordArrival).on('request', recordArrival);
  }
  answerRunsMessage(message);
});
console.log(`READY ${sb.url ? new URL(sb.url).port : 0}`);
exitWithBench(() => sb.close());
