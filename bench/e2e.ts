/**
 * End to end: webhook → a no-op function through Switchboard (gateway and worker processes; latency from
 * the request's arrival at the gateway to the function's start, as the issue defines it)
 * against BullMQ's own add → processor, in the same run and on the same Redis; drain rates of a raw
 * BullMQ worker (BullMQ 6 and 5); the same pipeline with a bare BullMQ worker in place of ours; and
 * overload with a high-water mark. Targets 4 and 5.
 */
import { alternate, deletePrefix, fmt, load, median, nextDelivery, pacedLoad, pairedRatios, percentile, processCpu, range, redisCpu, redisMemory, RUN, startServer, stopServer, type LoadResult, type Server, type Target } from './lib.js';

export interface E2eOptions {
  seconds: number;
  rounds: number;
  connections: number;
}

const CONCURRENCY = 50;
const DRAIN_JOBS = 20_000;
/** The options the bus gives every job (src/bus/bus.ts), for a like-for-like raw drain. */
const SWITCHBOARD_JOB_OPTIONS = { attempts: 3, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: true, removeOnFail: { age: 14 * 24 * 3600, count: 10_000 } };

const targets: Record<string, Target> = {
  // As deployed: a gateway process and a worker process (on Kubernetes, their own pods).
  gateway: { name: 'gateway', script: 'switchboard.mjs', prefix: `bench-e2e-sb-${RUN}`, env: { ROLE: 'gateway' } },
  worker: { name: 'worker', script: 'switchboard.mjs', prefix: `bench-e2e-sb-${RUN}`, env: { ROLE: 'worker', CONCURRENCY: String(CONCURRENCY) } },
  // A second pair for the sustained rounds, and a second BullMQ process for the drains they are paired with:
  // a process keeps its own speed for its life (two identical pairs differed by 6 % over 16 paired
  // rounds), so each side is measured on two processes in turn.
  gateway2: { name: 'gateway, second pair', script: 'switchboard.mjs', prefix: `bench-e2e-sb2-${RUN}`, env: { ROLE: 'gateway' } },
  worker2: { name: 'worker, second pair', script: 'switchboard.mjs', prefix: `bench-e2e-sb2-${RUN}`, env: { ROLE: 'worker', CONCURRENCY: String(CONCURRENCY) } },
  // The same pipeline with BullMQ's own Worker (same concurrency) running the jobs our gateway writes.
  bareGateway: { name: 'gateway (bare worker)', script: 'switchboard.mjs', prefix: `bench-e2e-sbb-${RUN}`, env: { ROLE: 'gateway' } },
  bareWorker: { name: 'BullMQ 6 worker on our jobs', script: 'bullmq-worker.mjs', prefix: `bench-e2e-sbb-${RUN}`, env: { CONCURRENCY: String(CONCURRENCY) } },
  bullmq6: { name: 'BullMQ 6', script: 'bullmq.mjs', prefix: `bench-e2e-b6-${RUN}`, env: { BULLMQ: 'bullmq' } },
  // BullMQ with Switchboard's topology: the producer in one process, the worker in another.
  bullmq6consumer: { name: 'BullMQ 6 worker', script: 'bullmq.mjs', prefix: `bench-e2e-b6-${RUN}`, env: { BULLMQ: 'bullmq' } },
  bullmq5: { name: 'BullMQ 5', script: 'bullmq.mjs', prefix: `bench-e2e-b5-${RUN}`, env: { BULLMQ: 'bullmq5' } },
  bullmq6second: { name: 'BullMQ 6, second process', script: 'bullmq.mjs', prefix: `bench-e2e-b62-${RUN}`, env: { BULLMQ: 'bullmq' } },
  // A worker that drains slowly (one run at a time, each 1 ms), so saturating the gateway is an overload.
  overload: { name: 'overload', script: 'switchboard.mjs', prefix: `bench-e2e-ov-${RUN}`, env: { ROLE: 'dev', CONCURRENCY: '1', HIGH_WATER_MARK: '2000', NOOP_MS: '1' } },
};

/** A round's times by delivery (bench/servers/delivery-times.mjs): `times[i]` is delivery `from + i`'s, null if none. */
type DeliveryTimes = { from: number; times: (number | null)[] };
type Stats = { runs: number; latencies: number[]; startedAt?: DeliveryTimes };

/**
 * Waits (up to 30 s) until the worker has run `count` events since it had run `before`; its stats then.
 * The run that reaches the count answers, as the raw drain's last job ends its clock: polling would
 * add up to a poll interval to every end-to-end round.
 */
async function untilRun(worker: Server, before: number, count: number, message: 'runs' | 'stats' = 'runs'): Promise<Stats> {
  const reached = await worker.ask<Stats>({ until: before + count });
  return message === 'runs' ? reached : worker.ask<Stats>(message);
}

/** Webhooks at saturation, then waits until every accepted one has run: what was accepted and how many ran. */
async function saturate(gateway: Server, worker: Server, seconds: number, connections: number): Promise<{ load: LoadResult; runs: number }> {
  const before = (await worker.ask<Stats>('runs')).runs;
  const r = await load(gateway.port, { seconds, connections });
  return { load: r, runs: (await untilRun(worker, before, r.ok)).runs - before };
}

/** Request received by the gateway → function start (the issue's measure), and request sent → function start. */
async function switchboardLatency(gateway: Server, worker: Server, seconds: number): Promise<{ p50: number; p99: number; sentP50: number; sentP99: number; lost: boolean }> {
  const reset = { reset: nextDelivery() };
  await worker.ask<Stats>(reset);
  await gateway.ask<Stats>(reset);
  const before = (await worker.ask<Stats>('runs')).runs;
  const r = await pacedLoad(gateway.port, { seconds, rate: 1000, stamp: true });
  // Every accepted event must run; wait for the last ones.
  const stats = await untilRun(worker, before, r.ok, 'stats');
  const { receivedAt } = await gateway.ask<{ receivedAt: DeliveryTimes }>('received');
  const fromReceipt = (stats.startedAt?.times ?? []).flatMap((started, i) => {
    const received = receivedAt.times[i];
    return started === null || received === null || received === undefined ? [] : [started - received];
  });
  return {
    p50: percentile(fromReceipt, 50),
    p99: percentile(fromReceipt, 99),
    sentP50: percentile(stats.latencies, 50),
    sentP99: percentile(stats.latencies, 99),
    lost: stats.runs - before < r.ok || fromReceipt.length < r.ok,
  };
}

let queues = 0;
async function bullmqLatency(server: Server, seconds: number, consumer?: Server): Promise<{ p50: number; p99: number }> {
  let latencies: number[];
  if (consumer) {
    const name = `two-process-${++queues}`;
    await consumer.ask({ cmd: 'consume', name, concurrency: CONCURRENCY });
    const { sent } = await server.ask<{ sent: number }>({ cmd: 'produce', name, rate: 1000, seconds });
    ({ latencies } = await consumer.ask<{ latencies: number[] }>({ cmd: 'consumed', name, count: sent }));
  } else {
    ({ latencies } = await server.ask<{ latencies: number[] }>({ cmd: 'latency', rate: 1000, seconds, concurrency: CONCURRENCY }));
  }
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

export async function runE2e(options: E2eOptions, log: (line: string) => void): Promise<{ report: string[]; lost: boolean }> {
  const servers = new Map<string, Server>();
  const report: string[] = [];
  let lost = false;
  try {
    for (const [key, t] of Object.entries(targets)) servers.set(key, await startServer(t));
    const gw = servers.get('gateway')!;
    const sb = servers.get('worker')!;
    // Warm-up, alike for every target: fresh processes run their first seconds unoptimized (p50 fell
    // from 4.6 to 1.2 ms over the first 5 s at 1,000 events/s in a gateway and worker), and the issue
    // asks for latency at a steady rate, not a cold start.
    // The sustained rounds' two pairs and the two BullMQ 6 processes whose drains they are paired with, by round parity.
    const sustainedPairs = [[gw, sb], [servers.get('gateway2')!, servers.get('worker2')!]] as const;
    const drainers = [servers.get('bullmq6')!, servers.get('bullmq6second')!] as const;
    for (const [gateway, worker] of sustainedPairs) await saturate(gateway, worker, 2, options.connections);
    await saturate(servers.get('bareGateway')!, servers.get('bareWorker')!, 2, options.connections);
    await pacedLoad(gw.port, { seconds: 2, rate: 1000, stamp: true });
    await bullmqLatency(servers.get('bullmq6')!, 2, servers.get('bullmq6consumer')!);
    for (const key of ['bullmq6', 'bullmq5']) await bullmqLatency(servers.get(key)!, 2);

    // 1. Latency at a steady 1,000 events/s. Each Switchboard round is paired with BullMQ's two-process
    // round beside it, in twice as many rounds as the other sections: a round's p50 moves by up to 2× as
    // the VM's speed drifts (BullMQ's 0.76–1.39 ms in one suite), so six pairs left the median ratio
    // to chance. BullMQ in one process (6, then 5) takes turns beside them, for comparison only.
    const latency: Record<string, { p50: number[]; p99: number[] }> = { switchboard: { p50: [], p99: [] }, switchboardSent: { p50: [], p99: [] }, bullmq6two: { p50: [], p99: [] }, bullmq6: { p50: [], p99: [] }, bullmq5: { p50: [], p99: [] } };
    for (let round = 0; round < options.rounds * 2; round++) {
      const other = round % 2 === 0 ? 'bullmq6' : 'bullmq5';
      for (const key of alternate(['switchboard', 'bullmq6two', other], Math.floor(round / 2))) {
        const r: { p50: number; p99: number; sentP50?: number; sentP99?: number; lost?: boolean } =
          key === 'switchboard'
            ? await switchboardLatency(gw, sb, options.seconds)
            : key === 'bullmq6two'
              ? await bullmqLatency(servers.get('bullmq6')!, options.seconds, servers.get('bullmq6consumer')!)
              : await bullmqLatency(servers.get(key)!, options.seconds);
        if (r.lost) lost = true;
        latency[key]!.p50.push(r.p50);
        latency[key]!.p99.push(r.p99);
        if (r.sentP50 !== undefined && r.sentP99 !== undefined) {
          latency.switchboardSent!.p50.push(r.sentP50);
          latency.switchboardSent!.p99.push(r.sentP99);
        }
        const fromSend = r.sentP50 !== undefined ? ` (from the send: p50 ${r.sentP50.toFixed(2)} ms  p99 ${r.sentP99!.toFixed(2)} ms)` : '';
        log(`e2e latency round ${round + 1} ${key.padEnd(12)} p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms${fromSend}`);
      }
    }

    // 2. Throughput: Switchboard end to end at saturation against a raw worker draining a full queue.
    // The machine's speed swings within seconds (one gateway and worker pair cost 159–228 µs per event
    // from round to round of one run, and two identical pairs differed by up to 1.34× in the same
    // round), so each Switchboard round is paired with the BullMQ 6 drain next to it, in twice as many
    // rounds as the other sections, as for latency; the drains of jobs with our options and of BullMQ 5
    // are for comparison only and take turns beside them. The pipeline with a bare BullMQ worker runs in
    // every round too: paired with ours, it tells the worker's share of the gap from the gateway's. Even
    // rounds run the first Switchboard pair and BullMQ process, odd rounds the second ones.
    const drain: Record<string, number[]> = { switchboard: [], bullmq6: [], bullmq6retention: [], bullmq5: [], bareWorker: [] };
    for (let round = 0; round < options.rounds * 2; round++) {
      const other = round % 2 === 0 ? 'bullmq6retention' : 'bullmq5';
      for (const key of alternate(['switchboard', 'bullmq6', other, 'bareWorker'], Math.floor(round / 2))) {
        if (key === 'switchboard' || key === 'bareWorker') {
          const [gateway, worker] = key === 'bareWorker' ? [servers.get('bareGateway')!, servers.get('bareWorker')!] : sustainedPairs[round % 2]!;
          // A second at saturation first, not counted: the processes idled while the drains ran on their
          // core, and the first second after that ran at 0.6–0.9× the next (cold caches), where each
          // drain is measured right after its own queue was filled. Then webhooks at saturation for the
          // round, and until every accepted one has run: events/s end to end.
          const warm = await saturate(gateway, worker, 1, options.connections);
          if (warm.runs < warm.load.ok) lost = true;
          const cpu = [processCpu(gateway.child.pid!), processCpu(worker.child.pid!), await redisCpu()];
          const started = performance.now();
          const { load: r, runs } = await saturate(gateway, worker, options.seconds, options.connections);
          if (runs < r.ok) lost = true;
          const rate = runs / ((performance.now() - started) / 1000);
          drain[key]!.push(rate);
          const used = [processCpu(gateway.child.pid!), processCpu(worker.child.pid!), await redisCpu()].map((c, i) => fmt(((c - cpu[i]!) * 1e6) / runs));
          log(`e2e sustained round ${round + 1} ${key === 'switchboard' ? `switchboard (pair ${(round % 2) + 1})` : 'bare worker '}  ${fmt(r.ok)} accepted at ${fmt(r.rps)} req/s, all run at ${fmt(rate)} events/s end to end; CPU µs per event: gateway ${used[0]}, worker ${used[1]}, Redis ${used[2]}`);
        } else {
          const server = key === 'bullmq6' ? drainers[round % 2]! : servers.get(key === 'bullmq6retention' ? 'bullmq6' : key)!;
          const { rate, fillCpuPerJob, drainCpuPerJob, drainRedisCpuPerJob } = await server.ask<{ rate: number; fillCpuPerJob: number; drainCpuPerJob: number; drainRedisCpuPerJob: number }>({ cmd: 'drain', jobs: DRAIN_JOBS, concurrency: CONCURRENCY, ...(key === 'bullmq6retention' ? { opts: SWITCHBOARD_JOB_OPTIONS } : {}) });
          drain[key]!.push(rate);
          log(`e2e drain round ${round + 1} ${key.padEnd(12)} ${fmt(rate)} jobs/s; CPU µs per job: worker ${fmt(drainCpuPerJob)}, Redis ${fmt(drainRedisCpuPerJob)} (the producer's addBulk before it: ${fmt(fillCpuPerJob)})`);
        }
      }
    }

    // 3. Overload: offered load far above what the worker drains; the high-water mark (2,000) holds.
    const ov = servers.get('overload')!;
    const memory: number[] = [];
    const sampler = setInterval(() => void redisMemory().then((m) => memory.push(m)), 250);
    const overload = await load(ov.port, { seconds: options.seconds * 2, connections: options.connections });
    clearInterval(sampler);
    const half = Math.floor(memory.length / 2);
    const growth = (Math.max(...memory.slice(half)) - Math.max(...memory.slice(0, half))) / 2 ** 20;

    const ratio = (a: number[], b: number[]) => (median(a) / median(b)).toFixed(2);
    // A Switchboard round and the baseline's round beside it make a pair (latency: BullMQ with two processes; throughput: the drain).
    const paired = (a: number[], b: number[]) => median(pairedRatios(a, b)).toFixed(2);
    // Throughput rounds: the drain of jobs with our options runs in the even ones, BullMQ 5's in the odd.
    const evenRound = (_: number, round: number) => round % 2 === 0;
    const oddRound = (_: number, round: number) => round % 2 === 1;
    report.push('| end to end, 1,000 events/s | p50 ms, median | min–max | p99 ms, median | min–max |', '| --- | --- | --- | --- | --- |');
    const names: Record<string, string> = {
      switchboard: 'Switchboard (gateway and worker processes): request received → function start',
      switchboardSent: 'Switchboard, the same runs: request sent (by the load generator) → function start',
      bullmq6two: 'BullMQ 6 (producer and worker processes): add → processor start',
      bullmq6: 'BullMQ 6 (one process): add → processor start',
      bullmq5: 'BullMQ 5 (one process): add → processor start',
    };
    for (const key of ['switchboard', 'switchboardSent', 'bullmq6two', 'bullmq6', 'bullmq5']) {
      const l = latency[key]!;
      report.push(`| ${names[key]} | ${median(l.p50).toFixed(2)} | ${range(l.p50, 2)} | ${median(l.p99).toFixed(2)} | ${range(l.p99, 2)} |`);
    }
    report.push('', '| throughput | median per s | min–max |', '| --- | --- | --- |');
    report.push(`| Switchboard end to end (gateway and worker processes): webhooks at saturation until every one has run (events/s) | ${fmt(median(drain.switchboard!))} | ${range(drain.switchboard!)} |`);
    report.push(`| The same pipeline with a bare BullMQ 6 worker (same concurrency) running the jobs our gateway writes (events/s) | ${fmt(median(drain.bareWorker!))} | ${range(drain.bareWorker!)} |`);
    report.push(`| BullMQ 6 worker draining a full queue | ${fmt(median(drain.bullmq6!))} | ${range(drain.bullmq6!)} |`);
    report.push(`| BullMQ 6 worker draining a full queue of jobs with Switchboard's options (3 attempts with backoff, removed once completed, failed ones kept) | ${fmt(median(drain.bullmq6retention!))} | ${range(drain.bullmq6retention!)} |`);
    report.push(`| BullMQ 5 worker draining a full queue | ${fmt(median(drain.bullmq5!))} | ${range(drain.bullmq5!)} |`);
    report.push('');
    report.push(`- latency, request received → function start, against BullMQ 6's add → processor start with the same topology (producer and worker processes): p50 ${paired(latency.switchboard!.p50, latency.bullmq6two!.p50)}× (target ≤ 1.3×; ratio of the medians ${ratio(latency.switchboard!.p50, latency.bullmq6two!.p50)}×), p99 ${paired(latency.switchboard!.p99, latency.bullmq6two!.p99)}× (target ≤ 2×; ratio of the medians ${ratio(latency.switchboard!.p99, latency.bullmq6two!.p99)}×), each the median of the ${latency.switchboard!.p50.length} rounds' paired ratios (the two run side by side in every round); against BullMQ in one process: p50 ${ratio(latency.switchboard!.p50, latency.bullmq6!.p50)}×, p99 ${ratio(latency.switchboard!.p99, latency.bullmq6!.p99)}×`);
    report.push(`- sustained end to end against a raw BullMQ 6 worker's drain, the median of the rounds' paired ratios: ${paired(drain.switchboard!, drain.bullmq6!)}× (target ≥ 0.45×; ratio of the medians ${ratio(drain.switchboard!, drain.bullmq6!)}×); against the same worker on jobs with Switchboard's options: ${paired(drain.switchboard!.filter(evenRound), drain.bullmq6retention!)}× (${drain.switchboard!.length} rounds, on two pairs of gateway and worker processes in turn, paired with BullMQ 6's drain on two processes in turn; ${drain.bullmq6retention!.length} with the drain of jobs with our options)`);
    report.push(`- our worker against BullMQ's own in the same pipeline (our gateway, each with its own queue, paired rounds): ${paired(drain.switchboard!, drain.bareWorker!)}× the rate (ratio of the medians ${ratio(drain.switchboard!, drain.bareWorker!)}×)`);
    report.push(`- BullMQ 5 against 6: drain ${paired(drain.bullmq5!, drain.bullmq6!.filter(oddRound))}× (paired rounds), add → processor p50 ${ratio(latency.bullmq5!.p50, latency.bullmq6!.p50)}×`);
    report.push(`- overload (${options.seconds * 2} s at saturation against a worker that runs about 500 events/s, high-water mark 2,000): ${fmt(overload.ok)} accepted, ${fmt(overload.non2xx)} refused with 503, p99 ${overload.p99} ms, Redis memory growth over the second half ${growth.toFixed(1)} MiB`);
    report.push(`- nothing lost: ${lost ? 'FAILED — some accepted events did not run' : 'every accepted event ran'}`);
  } finally {
    for (const s of servers.values()) await stopServer(s);
    for (const t of Object.values(targets)) await deletePrefix(t.prefix);
  }
  return { report, lost };
}
