/** Memory (target 7): idle RSS of the compiled gateway, and RSS over a long run at a steady rate. */
import { deletePrefix, median, pacedLoad, rssMiB, RUN, sleep, startServer, stopServer, type Target } from './lib.js';

const idleTargets: Target[] = [
  { name: 'bare Fastify (ceiling)', script: 'ceiling.mjs', prefix: `bench-mem-c-${RUN}` },
  { name: 'switchboard gateway', script: 'switchboard.mjs', prefix: `bench-mem-g-${RUN}` },
  { name: 'switchboard gateway + worker', script: 'switchboard.mjs', prefix: `bench-mem-d-${RUN}`, env: { ROLE: 'dev' } },
];

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const num = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const den = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

/**
 * V8 gives back its young generation (grown to 16–32 MiB while modules load) when its memory reducer
 * runs: once it sees a low allocation rate, at the latest 30 s after the last full collection (its
 * watchdog), checked every 8 s. An idle process is measured after that.
 */
const SETTLE_MS = 50_000;
/** After traffic the idle heap trim waits a minute of idleness (src/ops/idle-heap-trim.ts), checked every 10 s. */
const SETTLE_AFTER_LOAD_MS = 80_000;

/** The idle-memory targets' two timed phases, after `startMemory`. */
export interface MemoryPhases {
  /** Once 50 s have passed since the start: reads the idle RSS, then 10 s at 1,000 req/s for each target. */
  load(): Promise<void>;
  /** Once 80 s have passed since the load: reads the RSS after load, stops the targets, and reports. */
  finish(): Promise<string[]>;
  /** Stops the targets and deletes their keys (once; `finish` does it too). */
  stop(): Promise<void>;
}

/**
 * Starts the idle-memory targets, on the load generator's core when pinned. A whole suite starts them
 * first, and their idle minutes pass while the other sections run (two of the suite's ten minutes were
 * waits): the sections measured on the targets' core are untouched, and an idle process's RSS does not
 * depend on which core it idles on.
 */
export async function startMemory(log: (line: string) => void): Promise<MemoryPhases> {
  // The targets start side by side and idle together: each is its own process, and this saves minutes.
  const servers = await Promise.all(idleTargets.map((t) => startServer(t, { onGeneratorCore: true })));
  const started = Date.now();
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      for (const s of servers) await stopServer(s);
      for (const t of idleTargets) await deletePrefix(t.prefix);
    })());
  const until = (from: number, ms: number) => sleep(Math.max(0, from + ms - Date.now()));
  await sleep(3000);
  const startup = servers.map((s) => rssMiB(s.child.pid!));
  let idle: number[] = [];
  let loaded = 0;
  return {
    async load() {
      await until(started, SETTLE_MS);
      idle = servers.map((s) => rssMiB(s.child.pid!));
      for (const s of servers) {
        const r = await pacedLoad(s.port, { seconds: 10, rate: 1000 });
        if (r.non2xx > 0) log(`memory: ${r.non2xx} requests not accepted`);
      }
      loaded = Date.now();
    },
    async finish() {
      try {
        await until(loaded, SETTLE_AFTER_LOAD_MS);
        const afterLoad = servers.map((s) => rssMiB(s.child.pid!));
        const report = ['| process (compiled, no tsx) | RSS MiB 3 s after start | idle RSS MiB (50 s or more without traffic) | idle RSS MiB, 80 s or more after 10 s at 1,000 req/s |', '| --- | --- | --- | --- |'];
        idleTargets.forEach((t, i) => {
          report.push(`| ${t.name} | ${startup[i]!.toFixed(0)} | ${idle[i]!.toFixed(0)} | ${afterLoad[i]!.toFixed(0)} |`);
          log(`RSS ${t.name}: ${startup[i]!.toFixed(0)} MiB at start, ${idle[i]!.toFixed(0)} MiB idle, ${afterLoad[i]!.toFixed(0)} MiB idle after load`);
        });
        return report;
      } finally {
        await stop();
      }
    },
    stop,
  };
}

/** The idle-memory report once the phases have loaded (`finish`), then (with `minutes`) the long run at a steady rate. */
export async function runMemory(phases: MemoryPhases, options: { minutes: number }, log: (line: string) => void): Promise<{ report: string[] }> {
  const report = await phases.finish();
  if (options.minutes > 0) {
    const t: Target = { name: 'steady', script: 'switchboard.mjs', prefix: `bench-mem-s-${RUN}`, env: { ROLE: 'dev' } };
    const server = await startServer(t);
    try {
      const samples: [number, number][] = [];
      const start = Date.now();
      const sampler = setInterval(() => {
        const minute = (Date.now() - start) / 60_000;
        samples.push([minute, rssMiB(server.child.pid!)]);
        if (samples.length % 6 === 0) log(`memory run: ${minute.toFixed(1)} min, RSS ${samples.at(-1)![1].toFixed(0)} MiB`);
      }, 10_000);
      const r = await pacedLoad(server.port, { seconds: options.minutes * 60, rate: 1000 });
      clearInterval(sampler);
      // RSS saws up and down with garbage collection: compare the halves' lows (what stays live) and medians.
      const half = (second: boolean) => samples.filter(([m]) => (m >= options.minutes / 2) === second).map(([, y]) => y);
      const describe = (ys: number[]) => `low ${Math.min(...ys).toFixed(0)}, median ${median(ys).toFixed(0)}, high ${Math.max(...ys).toFixed(0)} MiB`;
      report.push('');
      report.push(`- ${options.minutes} minutes at 1,000 req/s (gateway + worker in one process, journal on): ${r.ok.toLocaleString('en-US')} accepted, ${r.non2xx} not. RSS, first half: ${describe(half(false))}; second half: ${describe(half(true))}; least-squares slope over the whole run ${slope(samples).toFixed(2)} MiB per minute`);
    } finally {
      await stopServer(server);
      await deletePrefix(t.prefix);
    }
  }
  return { report };
}
