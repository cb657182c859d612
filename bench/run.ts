/**
 * The benchmark suite (`npm run bench`): ingest, end to end and memory, each against its baseline in
 * the same run and on the same Redis. Prints progress, then the tables BENCHMARKS.md shows; exits
 * non-zero if any accepted event went missing.
 *
 *   npm run bench -- [--seconds 2] [--rounds 6] [--connections 50] [--only ingest|e2e|memory] [--memory-minutes 0] [--pin]
 *
 * --pin (Linux, 2+ cores): the load generator on the first core, the targets and a local Redis on the
 * second, as if the senders were on other machines; CPU readings then vary far less between rounds.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { runE2e } from './e2e.js';
import { runIngest } from './ingest.js';
import { cleanUpOnInterrupt, pinning, redis } from './lib.js';
import { runMemory, startMemory } from './memory.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '6' },
    connections: { type: 'string', default: '50' },
    only: { type: 'string' },
    'memory-minutes': { type: 'string', default: '0' },
    pin: { type: 'boolean', default: false },
  },
});
cleanUpOnInterrupt();
const pinned = values.pin ? await pinning.start() : undefined;
const options = { seconds: Number(values.seconds), rounds: Number(values.rounds), connections: Number(values.connections) };
const started = Date.now();
const log = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);

const version = async (pkg: string) => ((await import(`${pkg}/package.json`, { with: { type: 'json' } })) as { default: { version: string } }).default.version;
const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1];
const setting = async (name: string) => ((await redis.config('GET', name)) as string[])[1];
const persistence = (await setting('appendonly')) === 'yes' ? 'AOF' : (await setting('save')) ? 'RDB snapshots' : 'no persistence';
const cpus = os.cpus();
const environment = `Node ${process.version}, BullMQ ${await version('bullmq')} (and ${await version('bullmq5')} for comparison), Fastify ${await version('fastify')}, Redis ${redisVersion} (${persistence}), ${cpus.length} cores (${cpus[0]?.model.trim()}), ${pinned ? `pinned: the load generator on core ${pinned.generator}, the targets and Redis on core ${pinned.targets}` : 'shared by the load generator, the targets and Redis'}; ${options.rounds} rounds × ${options.seconds} s, ${options.connections} connections at saturation`;

const sections: string[] = [`${environment}`, ''];
let lost = false;
// The idle-memory targets start first: in a whole suite their minutes of idling pass during the other sections.
const memory = !values.only || values.only === 'memory' ? await startMemory(log) : undefined;
try {
  if (!values.only || values.only === 'ingest') {
    const r = await runIngest(options, log);
    sections.push('### Ingest', '', ...r.report, '');
    lost ||= r.lost;
  }
  await memory?.load();
  if (!values.only || values.only === 'e2e') {
    const r = await runE2e(options, log);
    sections.push('### End to end', '', ...r.report, '');
    lost ||= r.lost;
  }
  if (memory) {
    const r = await runMemory(memory, { minutes: Number(values['memory-minutes']) }, log);
    sections.push('### Memory', '', ...r.report, '');
  }
} finally {
  await memory?.stop();
  await pinning.stop();
  redis.disconnect();
}
console.log(`\n${sections.join('\n')}\nSuite time: ${((Date.now() - started) / 60_000).toFixed(1)} min`);
if (lost) {
  console.error('FAIL: some accepted events are missing');
  process.exitCode = 1;
}
