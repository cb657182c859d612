/** The short crash soak in CI: workers, the gateway and Redis restarted under load; nothing accepted is lost. */
import { findOnPath } from '../../src/cli/embedded-redis.js';
import { runSoak } from './soak.js';

(findOnPath('redis-server') ? test : test.skip)('short crash soak: lost = 0', async () => {
  const lines: string[] = [];
  const report = await runSoak({ events: 3000, rate: 100, workerKillEveryMs: 4000, drainTimeoutMs: 60_000, log: (l) => void lines.push(l) });
  console.log(JSON.stringify(report));
  expect(report.accepted).toBeGreaterThan(report.sent * 0.8);
  expect(report.faults.filter((f) => f.startsWith('worker')).length).toBeGreaterThanOrEqual(5);
  expect(report.faults.some((f) => f.startsWith('gateway'))).toBe(true);
  expect(report.faults.some((f) => f.startsWith('redis'))).toBe(true);
  expect(report.lost).toBe(0);
}, 180_000);
