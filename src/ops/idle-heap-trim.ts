/**
 * Gives memory back once the process goes idle. V8 returns its young generation (grown to 2 × 16 MiB
 * while modules load, and again under load) only after a collection that finds the allocation rate
 * low, and its memory reducer judges that from samples taken at collections: an idle process that
 * collects nothing can keep 30–40 MiB it does not use for minutes (measured: a gateway at 98–107 MiB
 * after 50 s idle where the reducer had not run, 73–76 MiB where it had). One full collection after an
 * idle window measures that window's low rate, shrinks the young generation, and starts the reducer,
 * which then compacts the old generation.
 *
 * A process that has served nothing since start-up is trimmed after one idle window (what start-up grew
 * is garbage). After traffic the process waits a minute: a trimmed young generation grows back only as
 * survivors accumulate, so a burst that followed a short pause ran its first seconds with scavenges every
 * megabyte and premature promotion (measured: a gateway and worker took a 2 s burst after 15 s idle at
 * 0.32–0.83× the rate, and up to 2× the CPU per event, of the same pair with the trim off). Windows are
 * counted from the end of start-up (the caller starts the trim then), so traffic in the first window is
 * traffic too: before, start-up's window was never counted as busy, and a process that served a burst
 * right after it started, then paused for a window, was trimmed before its next burst.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

export interface IdleHeapTrimOptions {
  /** How long the event loop must be idle before a trim after start-up, and how often it is checked; V8 needs about 5 s without allocation. */
  windowMs?: number;
  /** How long it must be idle before a trim once it has been busy (rounded up to whole windows). */
  afterBusyMs?: number;
  /**
   * The share of a window the loop may be busy and still count as idle: low enough that a process
   * serving steady traffic (a gateway at 100 req/s uses about 7 % of a core) never pauses for the collection.
   */
  idleUtilization?: number;
  /** Trim only when V8 holds at least this much more than it uses. */
  minSlackBytes?: number;
  /** Seams for tests: the collector, the heap and the event loop's utilization. */
  gc?: () => void;
  heap?: () => { total: number; used: number };
  utilization?: (since?: EventLoopUtilization) => EventLoopUtilization;
  onTrim?: (before: { total: number; used: number }, after: { total: number; used: number }) => void;
}

export interface IdleHeapTrim {
  /** Checks once (the timer calls this every window). */
  check(): void;
  stop(): void;
}

let collector: (() => void) | undefined;

/** V8's own collector, exposed the way `--expose-gc` would (only for a new context, not for user code); made once. */
export function fullCollection(): () => void {
  if (collector) return collector;
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return (collector = exposed);
  v8.setFlagsFromString('--expose-gc');
  collector = vm.runInNewContext('gc') as () => void;
  v8.setFlagsFromString('--no-expose-gc');
  return collector;
}

const heapNow = () => {
  const s = v8.getHeapStatistics();
  return { total: s.total_heap_size, used: s.used_heap_size };
};

const slack = (heap: { total: number; used: number }) => heap.total - heap.used;

export function startIdleHeapTrim(options: IdleHeapTrimOptions = {}): IdleHeapTrim {
  const windowMs = options.windowMs ?? 10_000;
  const idleUtilization = options.idleUtilization ?? 0.02;
  const minSlack = options.minSlackBytes ?? 8 * 2 ** 20;
  const windowsAfterBusy = Math.max(1, Math.ceil((options.afterBusyMs ?? 60_000) / windowMs));
  const heap = options.heap ?? heapNow;
  const utilization = options.utilization ?? ((since) => performance.eventLoopUtilization(since));
  let gc = options.gc;
  let last = utilization();
  // Collections left in this idle period. V8 shrinks only if the allocation since its last collection
  // was slow; when that collection came shortly before the idle period began (a process that has just
  // started), the first trim measures part of the busy time and a second, one window later, does it.
  // Then nothing more until the process has been busy again: an idle process whose heap does not
  // shrink further is not collected every window.
  let attemptsLeft = 2;
  // Idle windows in a row, and how many a trim needs: one while the process has served nothing, more
  // once it was busy.
  let idleWindows = 0;
  let windowsNeeded = 1;

  const check = () => {
    const now = utilization();
    const idle = utilization(last).utilization < idleUtilization;
    last = now;
    if (!idle) {
      attemptsLeft = 2;
      idleWindows = 0;
      windowsNeeded = windowsAfterBusy;
      return;
    }
    idleWindows++;
    if (attemptsLeft === 0 || idleWindows < windowsNeeded) return;
    const before = heap();
    if (slack(before) < minSlack) return;
    gc ??= fullCollection();
    gc();
    const after = heap();
    attemptsLeft = slack(after) < minSlack ? 0 : attemptsLeft - 1;
    options.onTrim?.(before, after);
  };
  const timer = setInterval(check, windowMs).unref();
  return { check, stop: () => clearInterval(timer) };
}
