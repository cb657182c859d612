// The batching floor: node's HTTP server and one Redis call per batch (a Lua LPUSH of the raw bodies,
// up to 4 calls in flight, as the gateway batches), answering 202 once Redis has them. No signature
// check, no CloudEvent, no job format, no dedup: what transport and batching alone cost.
import http from 'node:http';
import { Redis } from 'ioredis';
import { exitWithBench } from './exit-with-bench.mjs';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
redis.defineCommand('pushAll', { numberOfKeys: 1, lua: "for i = 1, #ARGV do redis.call('LPUSH', KEYS[1], ARGV[i]) end return #ARGV" });
const key = `${process.env.PREFIX ?? 'bench-floor'}:floor:wait`;
let queue = [];
let inFlight = 0;
function flush() {
  if (queue.length === 0) return;
  const batch = queue;
  queue = [];
  inFlight++;
  redis.pushAll(key, ...batch.map((b) => b.body)).then(
    () => batch.forEach((b) => b.answer(202, '{"status":"accepted"}')),
    () => batch.forEach((b) => b.answer(503, '{"error":"unavailable"}')),
  ).finally(() => {
    inFlight--;
    flush();
  });
}
const server = http.createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    queue.push({
      body: Buffer.concat(chunks),
      answer: (status, body) => response.writeHead(status, { 'content-type': 'application/json' }).end(body),
    });
    if (inFlight < 4) flush();
  });
});
exitWithBench();
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => console.log(`READY ${server.address().port}`));
