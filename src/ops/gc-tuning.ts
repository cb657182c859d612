/**
 * V8's garbage collector tuned to the CPUs this process may use and to bursts after pauses. With at
 * most one CPU (a container limited to one, or a process pinned to a core), V8's GC helper threads
 * have no second core to run on: they compete with the main thread, which waits for them inside its
 * pauses.
 * - Concurrent marking: on one core a worker at 1,000 events/s ran a full collection every 10–12 s
 *   whose marking steps took up to 20 ms, stalling it for 25–80 ms (3–8 of 30 rounds with a p99 over
 *   10 ms in four runs; 0–2 of 30 with it off; the sustained rate did not move).
 * - Parallel scavenging and concurrent array buffer sweeping: a young collection waited for its
 *   helper, so a gateway's pause took 1.8–2.0 ms and a worker's 1.6–1.95 (medians, 20–50 KB
 *   surviving); without them 1.0–1.2 and 1.1–1.55 ms, and the end-to-end p99 at 1,000 events/s was
 *   0.76–0.96× in three runs of paired rounds (Intel VM; bench/HISTORY.md, the thirty-first session).
 * With two free cores they made no difference: left on.
 *
 * Whatever the CPUs, the young generation regrows four times as fast as V8's default
 * (`--semi-space-growth-factor` 4, not 2). V8 shrinks it to its first size (1 MB) at the first
 * collection after a few seconds of quiet, which sees the quiet's low allocation rate, and grows it
 * back only as survivors accumulate: a burst after a pause then ran most of its first seconds with a
 * small young generation, promoting early, and with full collections after (a gateway's 2 s rounds 16
 * s apart: 115–150 scavenges and 4–5 full collections in half of them, 10–25 % more CPU per event).
 * With 4, the suite's first gateway round cost what its later ones did, and CPU per event against the
 * naive endpoint was 0.63–0.65× in the three suites that tried it (bench/HISTORY.md, the thirty-second
 * session). The largest size is V8's as before, and an idle process still gives it back.
 *
 * And one full collection once start-up is done, before the first request: start-up's garbage (the
 * parsed config, schemas, modules) otherwise left the first full collection to the first traffic, and
 * a gateway whose first seconds of load ran into it could stay in a dear state for good: each young
 * collection promoting most of what the one before it had kept (2.8–3.2 MB, 94–98 %), pauses of
 * 11–20 ms instead of 1–3, 20–40 % more CPU per event. With 1,000 connectors (22 MB of old generation
 * after start-up against 15 with one) 12–13 of 104 scratch gateways went that way, 6–7 of them among
 * 48 run alternately with 48 given this collection, none of which did, nor any of 48 more since; with
 * one connector 0 of 24 (bench/HISTORY.md, the thirty-fourth session). It costs one pause before the
 * gateway listens: about 80 ms with 1,000 connectors.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import v8 from 'node:v8';
import { fullCollection } from './idle-heap-trim.js';

/** V8's GC helper-thread flags turned off with at most one CPU. */
export const GC_HELPER_FLAGS = ['concurrent-marking', 'parallel-scavenge', 'concurrent-array-buffer-sweeping'] as const;
export type GcHelperFlag = (typeof GC_HELPER_FLAGS)[number];

/** How many times larger the young generation grows each time V8 grows it (V8's default: 2). */
export const YOUNG_GROWTH_FACTOR = 4;

export interface GcTuning {
  /** CPUs this process may use: its affinity, capped by a cgroup CPU quota. */
  cpus: number;
  /** The helpers turned off here. */
  turnedOff: GcHelperFlag[];
  /** The flags the operator set (`--x` or `--no-x`, `--x=n`), left as set. */
  leftAsSet: (GcHelperFlag | 'semi-space-growth-factor')[];
  /** The young generation's growth factor set here, when the operator set none. */
  youngGrowthFactor?: number;
}

/** CPUs allowed by a cgroup quota: v2 `cpu.max` ("max 100000" or "50000 100000"), else v1's files. */
export function cgroupCpuLimit(read: (file: string) => string | undefined = readIfPresent): number {
  const v2 = read('/sys/fs/cgroup/cpu.max')?.trim().split(/\s+/);
  if (v2 && v2.length === 2) return v2[0] === 'max' ? Infinity : Number(v2[0]) / Number(v2[1]);
  const quota = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')?.trim());
  const period = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us')?.trim());
  return quota > 0 && period > 0 ? quota / period : Infinity;
}

function readIfPresent(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export function availableCpus(): number {
  return Math.min(os.availableParallelism(), cgroupCpuLimit());
}

/** Whether the node flags name `flag`, either way (V8 reads `-` and `_` alike). */
const flagIsSet = (flag: string, nodeFlags: string) => new RegExp(`(^|\\s)--(no-?)?${flag.replace(/-/g, '[-_]')}(?=[\\s=]|$)`).test(nodeFlags);

/**
 * Sets the young generation's growth factor, and turns V8's GC helper threads off when at most one CPU
 * is available, each unless the operator set it on node's command line (NODE_OPTIONS does not take
 * these flags). V8 reads them at each collection, so setting them at start-up takes effect.
 */
export function tuneGc(
  cpus = availableCpus(),
  nodeFlags = process.execArgv.join(' '),
  /** A seam for tests, which must not change their own process's collector. */
  setV8Flag: (flag: string) => void = (flag) => v8.setFlagsFromString(flag),
): GcTuning {
  const tuning: GcTuning = { cpus, turnedOff: [], leftAsSet: [] };
  if (flagIsSet('semi-space-growth-factor', nodeFlags)) tuning.leftAsSet.push('semi-space-growth-factor');
  else {
    setV8Flag(`--semi-space-growth-factor=${YOUNG_GROWTH_FACTOR}`);
    tuning.youngGrowthFactor = YOUNG_GROWTH_FACTOR;
  }
  if (cpus > 1) return tuning;
  for (const flag of GC_HELPER_FLAGS) {
    if (flagIsSet(flag, nodeFlags)) tuning.leftAsSet.push(flag);
    else {
      setV8Flag(`--no-${flag}`);
      tuning.turnedOff.push(flag);
    }
  }
  return tuning;
}

/** Collects start-up's garbage (see above): how long it took and the heap used before and after, in bytes. */
export function collectStartupGarbage(collect: () => void = fullCollection()): { ms: number; usedBefore: number; usedAfter: number } {
  const usedBefore = v8.getHeapStatistics().used_heap_size;
  const started = performance.now();
  collect();
  const ms = performance.now() - started;
  return { ms, usedBefore, usedAfter: v8.getHeapStatistics().used_heap_size };
}
