// Raw BullMQ, the end-to-end baseline: a Queue and a no-op Worker in one process, driven over IPC.
//   { cmd: 'latency', rate, seconds, concurrency } → add → processor-start latencies (ms)
//   { cmd: 'drain', jobs, concurrency }            → a prefilled queue's drain rate (jobs/s)
// BULLMQ=bullmq5 runs the same against BullMQ 5.
import { Redis } from 'ioredis';

const { Queue, Worker } = await import(process.env.BULLMQ ?? 'bullmq');
const connection = { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' };
const prefix = process.env.PREFIX ?? 'bench-bullmq';
const now = () => performance.timeOrigin + performance.now();
const body = { ref: 'refs/heads/main', repository: { full_name: 'octo/hello' }, pusher: { name: 'octocat' }, commits: [{ id: 'a1b2c3', message: 'Fix' }] };
let run = 0;

async function latency({ rate, seconds, concurrency }) {
  const name = `latency-${++run}`;
  const queue = new Queue(name, { connection: new Redis(connection.url), prefix });
  const latencies = [];
  const worker = new Worker(name, async (job) => void latencies.push(now() - job.data.sent), { connection, prefix, concurrency });
  await worker.waitUntilReady();
  const total = Math.round(rate * seconds);
  const start = now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((now() - start) / 1000) * rate));
    for (; sent < due; sent++) void queue.add('webhook', { ...body, sent: now() });
    await new Promise((r) => setTimeout(r, 1));
  }
  while (latencies.length < total) await new Promise((r) => setTimeout(r, 20));
  await worker.close();
  await queue.close();
  return { latencies };
}

async function drain({ jobs, concurrency }) {
  const name = `drain-${++run}`;
  const queue = new Queue(name, { connection: new Redis(connection.url), prefix });
  for (let i = 0; i < jobs; i += 1000) await queue.addBulk(Array.from({ length: Math.min(1000, jobs - i) }, () => ({ name: 'webhook', data: body })));
  let done = 0;
  let finished;
  const all = new Promise((r) => (finished = r));
  const start = now();
  const worker = new Worker(name, async () => { if (++done === jobs) finished(); }, { connection, prefix, concurrency });
  await all;
  const rate = jobs / ((now() - start) / 1000);
  await worker.close();
  await queue.close();
  return { rate };
}

process.on('message', (message) => {
  (message.cmd === 'latency' ? latency(message) : drain(message)).then((r) => process.send(r), (err) => process.send({ error: String(err) }));
});
console.log('READY 0');
