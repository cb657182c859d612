/**
 * The idle heap trim: one full collection once the event loop has been idle for a window, so V8
 * gives back the young generation it grew while loading or under load (src/ops/idle-heap-trim.ts).
 */
import type { EventLoopUtilization } from 'node:perf_hooks';
import { startIdleHeapTrim } from '../src/ops/idle-heap-trim.js';

const MiB = 2 ** 20;

/** A process whose loop utilization per window and heap are set by the test. */
function fakeProcess() {
  let busy = 0;
  let elu: EventLoopUtilization = { idle: 0, active: 0, utilization: 0 };
  const state = {
    heap: { total: 60 * MiB, used: 20 * MiB },
    /** What a collection leaves: the heap's new total. */
    shrinksTo: 24 * MiB as number | undefined,
    collections: 0,
    window(utilization: number) {
      busy = utilization;
      elu = { idle: elu.idle + (1 - utilization) * 1000, active: elu.active + utilization * 1000, utilization: 0 };
    },
  };
  const trim = startIdleHeapTrim({
    windowMs: 3_600_000,
    afterBusyMs: 3 * 3_600_000,
    gc: () => {
      state.collections++;
      if (state.shrinksTo !== undefined) state.heap = { ...state.heap, total: state.shrinksTo };
    },
    heap: () => state.heap,
    utilization: (since) => (since ? { idle: elu.idle - since.idle, active: elu.active - since.active, utilization: busy } : elu),
  });
  /** Windows with these loop utilizations pass, the trim checking after each. */
  const windows = (...utilizations: number[]) => {
    for (const u of utilizations) {
      state.window(u);
      trim.check();
    }
  };
  return { state, trim, windows };
}

describe('idle heap trim', () => {
  test('collects once when the loop was idle for a window and the heap holds much more than it uses', () => {
    const { state, trim, windows } = fakeProcess();
    windows(0.01);
    expect(state.collections).toBe(1);
    expect(state.heap.total).toBe(24 * MiB);
    // Still idle, heap already trimmed: nothing more.
    windows(0, 0);
    expect(state.collections).toBe(1);
    trim.stop();
  });

  test('does not collect while the process is busy, nor when the heap has little slack', () => {
    const { state, trim, windows } = fakeProcess();
    windows(0.4);
    // Steady light traffic (a gateway at 100 req/s uses about 7 % of a core) is not idle.
    windows(0.04);
    expect(state.collections).toBe(0);
    state.heap = { total: 26 * MiB, used: 20 * MiB };
    windows(0, 0, 0, 0);
    expect(state.collections).toBe(0);
    trim.stop();
  });

  test.each([
    // Nothing served since start-up (the trim starts once start-up is done): one idle window is enough.
    ['a process idle since start-up is trimmed after one idle window', []],
    // Traffic in the first window is traffic: a burst right after start-up, then a pause, and the next
    // burst still finds its heap as it left it.
    ['a busy first window counts as traffic', [0.05, 0, 0]],
    // Busy after start-up: two idle windows since the last busy one are not the three asked for, so a
    // burst after a short pause finds its heap as it left it.
    ['once busy, it waits until idle for as long as asked, counted afresh after any busy window', [0.05, 0.5, 0, 0, 0.3, 0, 0]],
  ])('%s', (_name, before) => {
    const { state, trim, windows } = fakeProcess();
    windows(...before);
    expect(state.collections).toBe(0);
    windows(0);
    expect(state.collections).toBe(1);
    trim.stop();
  });

  test('tries a second window when the first collection did not shrink the heap, then stops until the process was busy again', () => {
    const { state, trim, windows } = fakeProcess();
    state.shrinksTo = undefined;
    windows(0, 0, 0, 0);
    expect(state.collections).toBe(2);
    // Busy again, then idle for as long as asked after traffic (three windows): the heap is worth another try.
    state.shrinksTo = 22 * MiB;
    windows(0.5, 0, 0);
    expect(state.collections).toBe(2);
    windows(0);
    expect(state.collections).toBe(3);
    expect(state.heap.total).toBe(22 * MiB);
    trim.stop();
  });
});
