/**
 * Kubernetes lifecycle with real processes: SIGTERM during a burst of webhooks loses nothing that got a
 * 2xx; SIGTERM to a busy worker leaves no job stuck in active; a config change goes live without a
 * restart, and a broken one leaves the old config serving.
 */
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Queue } from 'bullmq';
import { bootSwitchboard, deleteKeys, FIXTURES, REDIS_URL, startRecorder, uniquePrefix, waitFor } from './helpers/index.js';
import { spawnCli, writeConfig } from './helpers/cli.js';

const functionsYaml = (recorderUrl: string) => `
  - name: recorder
    type: http
    config: { baseUrl: "${recorderUrl}", allowPrivateNetworks: true }
functions:
  - name: sink
    runtime: node
    module: ${path.join(FIXTURES, 'functions/record.js')}
    trigger: { connector: open }
    concurrency: 20
  - name: sleepy
    runtime: node
    module: ${path.join(FIXTURES, 'functions/sleepy.js')}
    trigger: { type: com.example.sleep }
    timeout: 60s
    concurrency: 5
`;

describe('graceful lifecycle', () => {
  test('SIGTERM during a burst of webhooks: every request got its 2xx and its event ran, or got no 2xx', async () => {
    const prefix = uniquePrefix('burst');
    const recorder = await startRecorder();
    const file = writeConfig(`redis: { prefix: ${prefix} }\nadmin: { enabled: false }\nconnectors:\n  - { name: open, type: webhook, config: { verify: { scheme: none } } }\n${functionsYaml(recorder.url)}`);
    const gateway = spawnCli(['gateway', '--config', file, '--port', '0', '--shutdown-seconds', '5']);
    try {
      const url = await gateway.url();
      const accepted = new Set<string>();
      let refused = 0;
      let sent = 0;
      const sender = async () => {
        for (;;) {
          const n = ++sent;
          if (n > 2000) return;
          try {
            const res = await fetch(`${url}/hooks/open`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n }) });
            if (res.status === 202) accepted.add(((await res.json()) as { id: string }).id);
            else refused++;
          } catch {
            refused++; // connection refused or reset: no 2xx, the sender would retry
            if (gateway.child.exitCode !== null) return;
          }
        }
      };
      const senders = Array.from({ length: 10 }, sender);
      await waitFor(() => accepted.size >= 100, 'a burst under way');
      gateway.child.kill('SIGTERM');
      await Promise.all(senders);
      expect(await gateway.exited).toBe(0);
      expect(accepted.size).toBeGreaterThanOrEqual(100);

      // A worker runs everything that was accepted.
      const worker = await bootSwitchboard(`redis: { prefix: ${prefix} }\nconnectors:\n${functionsYaml(recorder.url)}`, { gateway: false, prefix });
      try {
        const ran = () => new Set(recorder.requests.map((r) => r.json.event.id as string));
        await waitFor(() => [...accepted].every((id) => ran().has(id)), `all ${accepted.size} accepted events to run`, 30_000);
      } finally {
        await worker.close();
      }
    } finally {
      gateway.child.kill('SIGKILL');
      await recorder.close();
      await deleteKeys(prefix);
    }
  }, 90_000);

  test('SIGTERM to a worker: jobs that finish within the grace period complete; the rest go back to the queue, none stuck in active', async () => {
    const prefix = uniquePrefix('drain');
    const recorder = await startRecorder();
    const file = writeConfig(`redis: { prefix: ${prefix} }\nadmin: { enabled: false }\nconnectors:\n${functionsYaml(recorder.url)}`);
    const queue = new Queue('fn.sleepy', { connection: { url: REDIS_URL }, prefix });
    const worker = spawnCli(['worker', '--config', file, '--functions', 'sleepy', '--shutdown-seconds', '2', '--health-port', '0']);
    try {
      await waitFor(() => worker.output().includes('switchboard worker running'), 'the worker to start', 20_000);
      const { jobIdFor } = await import('../src/bus/bus.js');
      const publisher = await bootSwitchboard(`redis: { prefix: ${prefix} }\nbus: { keepCompleted: 10 }\nconnectors:\n${functionsYaml(recorder.url)}`, { gateway: false, worker: false, prefix });
      const quick = { specversion: '1.0' as const, id: 'quick', source: '/t', type: 'com.example.sleep', data: { ms: 500 } };
      const slow = [1, 2].map((i) => ({ specversion: '1.0' as const, id: `slow-${i}`, source: '/t', type: 'com.example.sleep', data: { ms: 20_000 } }));
      await publisher.sb.bus.publish([quick, ...slow]);
      await waitFor(async () => (await queue.getActiveCount()) === 3, 'three jobs running');
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);

      expect(await (await queue.getJob(jobIdFor('sleepy', quick)))!.getState()).toBe('completed');
      expect(await queue.getActiveCount()).toBe(0);
      for (const e of slow) expect(await (await queue.getJob(jobIdFor('sleepy', e)))!.getState()).toBe('waiting');
      expect(worker.output()).toContain('handing running jobs back to their queues');
      await publisher.close();
    } finally {
      worker.child.kill('SIGKILL');
      await queue.close();
      await recorder.close();
      await deleteKeys(prefix);
    }
  }, 60_000);
});

describe('live config reload', () => {
  test('a new webhook connector goes live without a restart; a broken file leaves the old config serving', async () => {
    const prefix = uniquePrefix('reload');
    const recorder = await startRecorder();
    const base = (extra: string) => `redis: { prefix: ${prefix} }\nadmin: { enabled: false }\nconnectors:\n  - { name: open, type: webhook, config: { verify: { scheme: none } } }\n${extra}${functionsYaml(recorder.url)}`;
    const file = writeConfig(base(''));
    const gateway = spawnCli(['gateway', '--config', file, '--port', '0']);
    const post = async (url: string, hook: string) => (await fetch(`${url}/hooks/${hook}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status;
    // Replaces the file the way a ConfigMap update does: write beside it, then swap atomically.
    const swap = async (text: string) => {
      await writeFile(`${file}.next`, text);
      await rename(`${file}.next`, file);
    };
    try {
      const url = await gateway.url();
      expect(await post(url, 'added')).toBe(404);
      await swap(base('  - { name: added, type: webhook, config: { verify: { scheme: none } } }\n'));
      await waitFor(async () => (await post(url, 'added')) === 202, 'the new connector to serve', 10_000);
      expect(await post(url, 'open')).toBe(202);

      await swap(base('  - { name: added, type: webhook, config: { verify: { scheme: nonsense } } }\n'));
      const error = await waitFor(() => gateway.lines().find((l) => l.msg === 'config not reloaded; the running config stays in force'), 'the reload error', 10_000);
      expect(error.err).toMatch(/switchboard\.yaml:5:\d+ connectors\[1\]\.config\.verify\.scheme: expected one of/);
      expect(await post(url, 'added')).toBe(202);

      gateway.child.kill('SIGHUP');
      await waitFor(() => gateway.lines().filter((l) => l.msg === 'config not reloaded; the running config stays in force').length === 2, 'SIGHUP to reload (and refuse) again');
      expect(gateway.child.exitCode).toBeNull();
    } finally {
      gateway.child.kill('SIGKILL');
      await recorder.close();
      await deleteKeys(prefix);
    }
  }, 60_000);
});
