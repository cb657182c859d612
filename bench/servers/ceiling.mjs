// The HTTP ceiling: the same route and body parsing, answering 202 without touching Redis.
import Fastify from 'fastify';
import { exitWithBench } from './exit-with-bench.mjs';

const app = Fastify();
let n = 0;
app.post('/hooks/github', async (_request, reply) => reply.code(202).send({ id: String(++n) }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
exitWithBench(() => app.close());
console.log(`READY ${app.server.address().port}`);
