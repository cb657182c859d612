// Baseline: the hand-written receiver, one `await queue.add()` per request, on the same Redis.
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { exitWithBench } from './exit-with-bench.mjs';

const { Queue } = await import(process.env.BULLMQ ?? 'bullmq');
const connection = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
const queue = new Queue('naive', { connection, prefix: process.env.PREFIX ?? 'bench-naive' });
const app = Fastify();
app.post('/hooks/github', async (request, reply) => {
  const job = await queue.add('webhook', request.body);
  return reply.code(202).send({ id: job.id });
});
await queue.waitUntilReady();
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
exitWithBench(() => app.close());
console.log(`READY ${app.server.address().port}`);
