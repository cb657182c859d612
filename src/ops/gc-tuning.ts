/**
 * V8's garbage collector tuned to the CPUs this process may use. With at most one CPU (a container
 * limited to one, or a process pinned to a core), concurrent marking has no second core to run on: its
 * helper thread competes with the main thread. On one core a worker at 1,000 events/s ran a full
 * collection every 10–12 s whose marking steps took up to 20 ms on the main thread, stalling it for
 * 25–80 ms: 3–8 of 30 two-second rounds had a p99 over 10 ms (worst 27–54 ms) in four runs. With it
 * off, 0–2 of 30 (worst 5–30 ms) in five runs, marking in steps of 0.7–2 ms; the sustained rate did
 * not move (0.96–1.07× in alternating pairs). With two free cores it made no difference: left on.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import v8 from 'node:v8';

export interface GcTuning {
  /** CPUs this process may use: its affinity, capped by a cgroup CPU quota. */
  cpus: number;
  concurrentMarking: 'on' | 'off' | 'left as set';
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

/**
 * Turns concurrent marking off when at most one CPU is available, unless the operator set it
 * (`--concurrent-marking` or `--no-concurrent-marking` on the command line or in NODE_OPTIONS).
 */
export function tuneGc(cpus = availableCpus(), nodeFlags = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ')): GcTuning {
  if (/--(no-)?concurrent[-_]marking\b/.test(nodeFlags)) return { cpus, concurrentMarking: 'left as set' };
  if (cpus > 1) return { cpus, concurrentMarking: 'on' };
  v8.setFlagsFromString('--no-concurrent-marking');
  return { cpus, concurrentMarking: 'off' };
}
