/**
 * V8's concurrent marking is turned off when the process may use at most one CPU (src/ops/gc-tuning.ts):
 * the CPU count from affinity and cgroup quotas, the operator's own flag respected, and the real CLI
 * pinned to one core.
 */
import { availableCpus, cgroupCpuLimit, tuneGc } from '../src/ops/gc-tuning.js';
import { deleteKeys, uniquePrefix } from './helpers/index.js';
import { spawnCli, writeConfig } from './helpers/cli.js';

const files = (contents: Record<string, string>) => (file: string) => contents[file];

describe('GC tuning', () => {
  test('the CPU limit comes from cgroup v2 cpu.max, else cgroup v1 quota and period, else none', () => {
    expect(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': 'max 100000\n' }))).toBe(Infinity);
    expect(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': '50000 100000\n' }))).toBe(0.5);
    expect(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': '200000 100000\n' }))).toBe(2);
    expect(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '150000\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' }))).toBe(1.5);
    expect(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' }))).toBe(Infinity);
    expect(cgroupCpuLimit(files({}))).toBe(Infinity);
  });

  test('concurrent marking stays on with two CPUs, and an operator-set flag is left alone', () => {
    expect(tuneGc(2, '')).toEqual({ cpus: 2, concurrentMarking: 'on' });
    expect(tuneGc(1, '--max-old-space-size=512 --no-concurrent-marking')).toEqual({ cpus: 1, concurrentMarking: 'left as set' });
    expect(tuneGc(0.5, '--concurrent_marking')).toEqual({ cpus: 0.5, concurrentMarking: 'left as set' });
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
        return cli.lines().filter((l) => /concurrent marking/.test(String(l.msg)));
      } finally {
        cli.child.kill('SIGTERM');
        await cli.exited;
      }
    };

    test('pinned to one core, it turns concurrent marking off and says so', async () => {
      expect(await startupLog({}, ['taskset', '-c', '0'])).toEqual([expect.objectContaining({ level: 30, cpus: 1, msg: 'at most one CPU available: V8 concurrent marking off' })]);
    });

    test('SWITCHBOARD_GC_TUNING=off, or a machine with more CPUs, leaves V8 as it is', async () => {
      expect(await startupLog({ SWITCHBOARD_GC_TUNING: 'off' }, ['taskset', '-c', '0'])).toEqual([]);
      expect(availableCpus()).toBeGreaterThan(1);
      expect(await startupLog({})).toEqual([]);
    });
  });
});
