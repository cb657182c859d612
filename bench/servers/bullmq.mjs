// Raw BullMQ, the end-to-end baseline, driven over IPC:
//   { cmd: 'latency', rate, seconds, concurrency } → add → processor-start latencies (ms), Queue and Worker in this process
//   { cmd: 'produce', name, rate, seconds }        → adds at a steady rate to queue `name` (its worker runs elsewhere)
//   { cmd: 'consume', name, concurrency }          → starts a no-op Worker on queue `name`
//   { cmd: 'consumed', name, count }               → waits for `count` jobs, then their latencies; stops the Worker
//   { cmd: 'drain', jobs, concurrency, opts? }     → a prefilled queue's drain rate (jobs/s), and this process's CPU per job filling and draining
// BULLMQ=bullmq5 runs the same against BullMQ 5.
import { Redis } from 'ioredis';
import { exitWithBench } from './exit-with-bench.mjs';

const { Queue, Worker } = await import(process.env.BULLMQ ?? 'bullmq');
const connection = { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' };
const prefix = process.env.PREFIX ?? 'bench-bullmq';
const now = () => performance.timeOrigin + performance.now();
const body = { ref: 'refs/heads/main', repository: { full_name: 'octo/hello' }, pusher: { name: 'octocat' }, commits: [{ id: 'a1b2c3', message: 'Fix' }] };
let run = 0;

/** Adds jobs on a 1 ms tick at `rate`, each stamped with its add time. */
async function produce({ name, rate, seconds }) {
  const queue = new Queue(name, { connection: new Redis(connection.url), prefix });
  const total = Math.round(rate * seconds);
  const start = now();
  // Counted, not kept: holding every add's promise for the whole round made this process promote
  // about 1.3 MB per young collection (9-11 ms pauses), slowing the baseline we compare against.
  let sent = 0;
  let pending = 0;
  let failure;
  let allSettled;
  const settled = new Promise((r) => (allSettled = r));
  const settle = () => void (--pending === 0 && sent === total && allSettled());
  while (sent < total) {
    const due = Math.min(total, Math.floor(((now() - start) / 1000) * rate));
    for (; sent < due; sent++) {
      pending++;
      queue.add('webhook', { ...body, sent: now() }).then(settle, (err) => { failure ??= err; settle(); });
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  if (pending > 0) await settled;
  await queue.close();
  if (failure) throw failure;
  return { sent };
}

const consumers = new Map();
async function consume({ name, concurrency }) {
  const latencies = [];
  const worker = new Worker(name, async (job) => void latencies.push(now() - job.data.sent), { connection, prefix, concurrency });
  await worker.waitUntilReady();
  consumers.set(name, { worker, latencies });
  return {};
}

async function consumed({ name, count }) {
  const { worker, latencies } = consumers.get(name);
  for (let i = 0; i < 600 && latencies.length < count; i++) await new Promise((r) => setTimeout(r, 50));
  await worker.close();
  consumers.delete(name);
  return { latencies };
}

async function latency({ rate, seconds, concurrency }) {
  const name = `latency-${++run}`;
  await consume({ name, concurrency });
  const { sent } = await produce({ name, rate, seconds });
  return consumed({ name, count: sent });
}

/** Redis's CPU time so far (INFO cpu), in seconds (bench/lib.ts's redisCpu, for this plain-JS process). */
async function redisCpuSeconds(redis) {
  const info = await redis.info('cpu');
  const get = (k) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return get('used_cpu_user') + get('used_cpu_sys');
}

/** `opts`: job options for every job (e.g. a retention policy like Switchboard's); none by default. */
async function drain({ jobs, concurrency, opts }) {
  const name = `drain-${++run}`;
  const queue = new Queue(name, { connection: new Redis(connection.url), prefix });
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < jobs; i += 1000) await queue.addBulk(Array.from({ length: Math.min(1000, jobs - i) }, () => ({ name: 'webhook', data: body, ...(opts ? { opts } : {}) })));
  let done = 0;
  let finished;
  const all = new Promise((r) => (finished = r));
  const redis = new Redis(connection.url);
  const redis1 = await redisCpuSeconds(redis);
  const cpu1 = process.cpuUsage();
  const start = now();
  const worker = new Worker(name, async () => { if (++done === jobs) finished(); }, { connection, prefix, concurrency });
  await all;
  const rate = jobs / ((now() - start) / 1000);
  const cpu2 = process.cpuUsage();
  const redis2 = await redisCpuSeconds(redis);
  redis.disconnect();
  const micros = (a, b) => b.user + b.system - a.user - a.system;
  await worker.close();
  // A bare queue keeps its completed jobs (20,000 hashes, about 20 MB): gone before the next round, so
  // that Redis does not grow round after round under the targets measured next.
  await queue.obliterate({ force: true });
  await queue.close();
  // CPU of this process per job: filling the queue (addBulk) and draining it (the worker); Redis's while draining.
  return { rate, fillCpuPerJob: micros(cpu0, cpu1) / jobs, drainCpuPerJob: micros(cpu1, cpu2) / jobs, drainRedisCpuPerJob: ((redis2 - redis1) * 1e6) / jobs };
}

const commands = { latency, produce, consume, consumed, drain };
process.on('message', (message) => {
  commands[message.cmd](message).then((r) => process.send(r), (err) => process.send({ error: String(err) }));
});
exitWithBench();
console.log('READY 0');
