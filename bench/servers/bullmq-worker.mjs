// A bare BullMQ 6 Worker with a no-op processor on Switchboard's queue of the bench's function
// (`fn.noop` under PREFIX): fed by a Switchboard gateway, it shows what the pipeline costs with
// BullMQ's own worker in place of ours. Answers the bench's messages as switchboard.mjs does:
// 'runs' (runs so far) and { until } (answered once that many have run, or after 30 s).
import { Worker } from 'bullmq';
import { exitWithBench } from './exit-with-bench.mjs';

let runs = 0;
let waiter;
const worker = new Worker(
  'fn.noop',
  async () => {
    if (++runs >= (waiter?.count ?? Infinity)) waiter.reached();
    return null;
  },
  { connection: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' }, prefix: process.env.PREFIX, concurrency: Number(process.env.CONCURRENCY ?? 50) },
);
await worker.waitUntilReady();

function untilRuns(count) {
  return new Promise((resolve) => {
    const reached = () => {
      clearTimeout(timer);
      waiter = undefined;
      resolve({ runs, latencies: [] });
    };
    const timer = setTimeout(reached, 30_000);
    if (runs >= count) reached();
    else waiter = { count, reached };
  });
}

process.on('message', (message) => {
  if (typeof message === 'object' && message?.until !== undefined) return void untilRuns(message.until).then((answer) => process.send?.(answer));
  process.send?.({ runs, latencies: [] });
});
exitWithBench(() => worker.close());
console.log('READY 0');
