// A bare BullMQ 6 Worker running the bench's no-op function on Switchboard's queue of it (`fn.noop`
// under PREFIX): fed by a Switchboard gateway, it shows what the pipeline costs with BullMQ's own
// worker in place of ours. Answers the bench's messages as switchboard.mjs does.
import { Worker } from 'bullmq';
import { exitWithBench } from './exit-with-bench.mjs';
import noop, { answerRunsMessage } from './noop-function.mjs';

const worker = new Worker('fn.noop', (job) => noop(job.data), {
  connection: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  prefix: process.env.PREFIX,
  concurrency: Number(process.env.CONCURRENCY ?? 50),
});
await worker.waitUntilReady();
process.on('message', answerRunsMessage);
exitWithBench(() => worker.close());
console.log('READY 0');
