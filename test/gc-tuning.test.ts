/**
 * V8's GC helper threads (concurrent marking, parallel scavenging, concurrent array buffer sweeping)
 * are turned off when the process may use at most one CPU, and the young generation's growth factor is
 * set whatever the CPUs (src/ops/gc-tuning.ts): the CPU count from affinity and cgroup quotas, the
 * operator's own flags respected, and the real CLI pinned to one core. And start-up's garbage is
 * collected once, before the gateway listens.
 */
import { availableCpus, cgroupCpuLimit, collectStartupGarbage, GC_HELPER_FLAGS, tuneGc, YOUNG_GROWTH_FACTOR } from '../src/ops/gc-tuning.js';
import { deleteKeys, uniquePrefix } from './helpers/index.js';
import { spawnCli, writeConfig } from './helpers/cli.js';

const files = (contents: Record<string, string>) => (file: string) => contents[file];
/** Sets no V8 flag: the test process's own collector stays as it is. */
const setNothing = () => {};

describe('GC tuning', () => {
  test('the CPU limit comes from cgroup v2 cpu.max, else cgroup v1 quota and period, else none', () => {
    expect(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': 'max 100000\n' }))).toBe(Infinity);
    expect(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': '50000 100000\n' }))).toBe(0.5);
    expect(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': '200000 100000\n' }))).toBe(2);
    expect(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '150000\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' }))).toBe(1.5);
    expect(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' }))).toBe(Infinity);
    expect(cgroupCpuLimit(files({}))).toBe(Infinity);
  });

  test('with two CPUs every helper stays on; with one, each is turned off unless the operator set it', () => {
    expect(tuneGc(2, '', setNothing)).toEqual({ cpus: 2, turnedOff: [], leftAsSet: [], youngGrowthFactor: YOUNG_GROWTH_FACTOR });
    expect(tuneGc(1, '--max-old-space-size=512 --no-concurrent-marking', setNothing)).toEqual({
      cpus: 1,
      turnedOff: ['parallel-scavenge', 'concurrent-array-buffer-sweeping'],
      leftAsSet: ['concurrent-marking'],
      youngGrowthFactor: YOUNG_GROWTH_FACTOR,
    });
    expect(tuneGc(0.5, '--concurrent_marking --parallel-scavenge --noconcurrent_array_buffer_sweeping', setNothing)).toEqual({
      cpus: 0.5,
      turnedOff: [],
      leftAsSet: ['concurrent-marking', 'parallel-scavenge', 'concurrent-array-buffer-sweeping'],
      youngGrowthFactor: YOUNG_GROWTH_FACTOR,
    });
    // A longer flag that only starts with a helper's name is not that helper.
    expect(tuneGc(1, '--parallel-scavenge-task-trace', setNothing)).toEqual({ cpus: 1, turnedOff: [...GC_HELPER_FLAGS], leftAsSet: [], youngGrowthFactor: YOUNG_GROWTH_FACTOR });
  });

  test('the young generation grows by the factor set here, whatever the CPUs, unless the operator set one', () => {
    const setting = () => {
      const flags: string[] = [];
      return { flags, set: (flag: string) => void flags.push(flag) };
    };
    const two = setting();
    tuneGc(2, '', two.set);
    expect(two.flags).toEqual([`--semi-space-growth-factor=${YOUNG_GROWTH_FACTOR}`]);
    const one = setting();
    tuneGc(1, '', one.set);
    expect(one.flags).toEqual([`--semi-space-growth-factor=${YOUNG_GROWTH_FACTOR}`, ...GC_HELPER_FLAGS.map((f) => `--no-${f}`)]);
    const operator = setting();
    expect(tuneGc(2, '--semi_space_growth_factor=3', operator.set)).toEqual({ cpus: 2, turnedOff: [], leftAsSet: ['semi-space-growth-factor'] });
    expect(operator.flags).toEqual([]);
  });

  test("start-up's garbage collection runs the collector once and times it", () => {
    let runs = 0;
    const result = collectStartupGarbage(() => {
      runs++;
      const until = performance.now() + 5;
      while (performance.now() < until);
    });
    expect(runs).toBe(1);
    expect(result.ms).toBeGreaterThanOrEqual(5);
    expect(result.usedBefore).toBeGreaterThan(0);
  });

  describe('the gateway as deployed', () => {
    const prefix = uniquePrefix('gc');
    afterAll(() => deleteKeys(prefix));
    const config = () => writeConfig(`
redis: { prefix: ${prefix} }
admin: { enabled: false }
connectors:
  - { name: hooks, type: webhook, config: { secret: "\${env:HOOK_SECRET}", verify: { scheme: hmac, header: x-signature } } }
functions: []
`);
    const startupLog = async (env: NodeJS.ProcessEnv, launcher: string[] = []) => {
      const cli = spawnCli(['gateway', '--config', config(), '--port', '0'], { HOOK_SECRET: 's3cret-value', ...env }, launcher);
      try {
        await cli.url();
        return cli.lines().filter((l) => /GC helper threads/.test(String(l.msg)));
      } finally {
        cli.child.kill('SIGTERM');
        await cli.exited;
      }
    };

    test('pinned to one core, it turns the GC helper threads off and says which', async () => {
      expect(await startupLog({}, ['taskset', '-c', '0'])).toEqual([
        expect.objectContaining({ level: 30, cpus: 1, off: [...GC_HELPER_FLAGS], msg: "at most one CPU available: V8's GC helper threads off" }),
      ]);
    });

    test("start-up's garbage is collected once, before the gateway listens, and the heap it used shrinks", async () => {
      const cli = spawnCli(['gateway', '--config', config(), '--port', '0'], { HOOK_SECRET: 's3cret-value', LOG_LEVEL: 'debug' });
      try {
        await cli.url();
        const lines = cli.lines();
        const collected = lines.filter((l) => l.msg === "start-up's garbage collected");
        expect(collected).toEqual([expect.objectContaining({ ms: expect.any(Number), heapUsedMiB: { before: expect.any(Number), after: expect.any(Number) } })]);
        expect(collected[0]!.heapUsedMiB.after).toBeLessThan(collected[0]!.heapUsedMiB.before);
        expect(lines.indexOf(collected[0]!)).toBeLessThan(lines.findIndex((l) => /listening on/.test(String(l.msg))));
      } finally {
        cli.child.kill('SIGTERM');
        await cli.exited;
      }
      const off = spawnCli(['gateway', '--config', config(), '--port', '0'], { HOOK_SECRET: 's3cret-value', LOG_LEVEL: 'debug', SWITCHBOARD_GC_TUNING: 'off' });
      try {
        await off.url();
        expect(off.lines().filter((l) => l.msg === "start-up's garbage collected")).toEqual([]);
      } finally {
        off.child.kill('SIGTERM');
        await off.exited;
      }
    });

    test('SWITCHBOARD_GC_TUNING=off, or a machine with more CPUs, turns no GC helper off', async () => {
      expect(await startupLog({ SWITCHBOARD_GC_TUNING: 'off' }, ['taskset', '-c', '0'])).toEqual([]);
      expect(availableCpus()).toBeGreaterThan(1);
      expect(await startupLog({})).toEqual([]);
    });
  });
});
