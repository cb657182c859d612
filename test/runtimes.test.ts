/** Each runtime on the real bus: success, failure (retried, then dead-lettered), timeout, crash. */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { listDeadLetters } from '../src/bus/dead-letters.js';
import type { CloudEvent } from '../src/events/cloudevent.js';
import { bootSwitchboard, startRecorder, waitFor, type Recorder, type TestSwitchboard } from './helpers/index.js';

const yaml = (recorder: string) => `
# Completed jobs kept: the tests read the functions' results from them.
bus: { keepCompleted: 100 }
connectors:
  - name: recorder
    type: http
    config: { baseUrl: "${recorder}", allowPrivateNetworks: true }
functions:
  - name: py
    runtime: process
    command: [python3, ./functions/double.py]
    env: { GREETING: hi }
    trigger: { type: test.py }
    retry: { attempts: 2, backoff: { type: fixed, delay: 10ms } }
    timeout: 1500ms
  - name: sh
    runtime: process
    command: [./functions/shout.sh]
    env: { GREETING: switchboard }
    trigger: { type: test.sh }
  - name: pool
    runtime: process
    command: [python3, ./functions/persistent.py]
    persistent: { instances: 2 }
    trigger: { type: test.pool }
    retry: { attempts: 3, backoff: { type: fixed, delay: 10ms } }
    concurrency: 2
  - name: remote
    runtime: http
    url: ${recorder}/fn
    allowPrivateNetworks: true
    headers: { x-fn-key: abc }
    trigger: { type: test.http }
    retry: { attempts: 2, backoff: { type: fixed, delay: 10ms } }
    timeout: 1s
  - name: iso
    runtime: node
    module: ./functions/isolated.js
    isolated: true
    memoryLimit: 32
    trigger: { type: test.iso }
    retry: { attempts: 1 }
    timeout: 3s
`;

describe('runtimes', () => {
  let recorder: Recorder;
  let t: TestSwitchboard;
  beforeAll(async () => {
    process.env.SWITCHBOARD_LEAK_CANARY = 'must-not-reach-functions';
    recorder = await startRecorder();
    t = await bootSwitchboard(yaml(recorder.url), { gateway: false });
  });
  afterAll(async () => {
    await t?.close();
    await recorder?.close();
  });

  const names = () => t.config.functions.map((f) => f.name);
  async function run(fn: string, type: string, data: unknown): Promise<{ result?: unknown; letter?: Awaited<ReturnType<typeof listDeadLetters>>[number] }> {
    const event: CloudEvent = { specversion: '1.0', id: randomUUID(), source: '/runtimes', type, datacontenttype: 'application/json', data };
    await t.sb.bus.publish([event]);
    const { jobIdFor } = await import('../src/bus/bus.js');
    const jobId = jobIdFor(fn, event);
    return waitFor(async () => {
      const job = await t.sb.bus.queue(fn)!.getJob(jobId);
      // The job object is a snapshot; once Redis says completed, read the result from a fresh copy.
      if (await job?.isCompleted()) return { result: (await t.sb.bus.queue(fn)!.getJob(jobId))!.returnvalue };
      if (await job?.isFailed()) return { letter: (await listDeadLetters(t.sb.bus, names(), { functions: [fn], jobId }))[0] };
      return undefined;
    }, `${fn} to finish`, 20_000);
  }

  describe('process (one-shot)', () => {
    test('Python: the event on stdin, JSON on stdout is the result; only the declared environment', async () => {
      const { result } = await run('py', 'test.py', { n: 21 });
      expect(result).toEqual({ doubled: 42, env: expect.arrayContaining(['GREETING']), type: 'test.py' });
      // Python (and a version manager's shim) may add their own; none of the worker's variables leak in.
      expect((result as { env: string[] }).env).not.toContain('SWITCHBOARD_LEAK_CANARY');
      expect((result as { env: string[] }).env).not.toContain('JEST_WORKER_ID');
    });

    test('bash: text on stdout is the result', async () => {
      const { result } = await run('sh', 'test.sh', { hello: 'world' });
      expect(result).toMatch(/^HEARD \d+ BYTES FROM switchboard\n$/);
    });

    test('a non-zero exit fails with the tail of stderr, is retried, then dead-lettered', async () => {
      const { letter } = await run('py', 'test.py', { fail: true });
      expect(letter).toMatchObject({ attempts: 2, error: 'python3 exited with code 3: something went wrong on purpose' });
    });

    test('a timeout kills the whole process tree: no orphan is left', async () => {
      const marker = '7.25'; // an unusual sleep length to find the children by
      const { letter } = await run('py', 'test.py', { hang: Number(marker) });
      expect(letter?.error).toBe('function py timed out after 1500 ms');
      const survivors = () => {
        try {
          return execFileSync('pgrep', ['-f', `sleep ${marker}`]).toString().trim();
        } catch {
          return '';
        }
      };
      await waitFor(() => survivors() === '', 'the sleeping children to be gone', 3000);
    });
  });

  describe('process (persistent)', () => {
    test('long-lived processes answer over NDJSON; a crashed one is replaced and its event retried', async () => {
      const first = await run('pool', 'test.pool', { n: 1 });
      expect(first.result).toMatchObject({ n: 1, pid: expect.any(Number) });
      const again = await run('pool', 'test.pool', { n: 2 });
      expect([first.result, again.result].map((r) => (r as { pid: number }).pid).every((pid) => typeof pid === 'number')).toBe(true);

      const crashed = await run('pool', 'test.pool', { crash: true });
      expect(crashed.letter).toMatchObject({ attempts: 3, error: 'persistent process exited with code 7' });
      // The pool is whole again and serves the next event.
      expect((await run('pool', 'test.pool', { n: 3 })).result).toMatchObject({ n: 3 });
    });

    test('an error line fails the run without killing the process', async () => {
      const before = (await run('pool', 'test.pool', { n: 4 })).result as { pid: number };
      const failed = await run('pool', 'test.pool', { error: true });
      expect(failed.letter?.error).toBe('asked to fail');
      const pids = new Set<number>();
      for (let i = 0; i < 4; i++) pids.add(((await run('pool', 'test.pool', { n: 10 + i })).result as { pid: number }).pid);
      expect(pids.has(before.pid)).toBe(true);
    });
  });

  describe('http', () => {
    test('the event is POSTed in CloudEvents binary mode; a 2xx body is the result', async () => {
      recorder.respond = (r) => (r.url === '/fn' ? { status: 200, body: { handled: r.json } } : { status: 200, body: {} });
      const { result } = await run('remote', 'test.http', { order: 9 });
      expect(result).toEqual({ handled: { order: 9 } });
      const call = recorder.requests.filter((r) => r.url === '/fn').pop()!;
      expect(call.headers).toMatchObject({ 'ce-specversion': '1.0', 'ce-type': 'test.http', 'ce-source': '/runtimes', 'content-type': 'application/json', 'x-fn-key': 'abc' });
    });

    test('an endpoint slower than the timeout fails the run', async () => {
      const slow = await import('node:http').then(({ default: http }) => {
        const server = http.createServer(() => {});
        return new Promise<{ server: typeof server; url: string }>((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` })));
      });
      const { httpRuntime } = await import('../src/worker/runtimes/http.js');
      const runtime = httpRuntime({ kind: 'http', url: slow.url, headers: {}, allowPrivateNetworks: true });
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('function remote timed out after 100 ms')), 100);
      await expect(runtime.invoke({ specversion: '1.0', id: 'x', source: '/s', type: 't' }, { signal: controller.signal } as never)).rejects.toThrow('timed out after 100 ms');
      slow.server.closeAllConnections();
      slow.server.close();
      await runtime.close();
    });

    test('anything but a 2xx is a failure that is retried', async () => {
      recorder.respond = (r) => (r.url === '/fn' ? { status: 502, body: { down: true } } : { status: 200, body: {} });
      const { letter } = await run('remote', 'test.http', { order: 10 });
      expect(letter).toMatchObject({ attempts: 2, error: `POST ${recorder.url}/fn answered 502: {"down":true}` });
    });
  });

  describe('node, isolated', () => {
    test('runs in a worker thread with ctx.connectors, ctx.emit, ctx.state and ctx.log by message, and no environment', async () => {
      recorder.respond = () => ({ status: 201, body: {} });
      const { result } = await run('iso', 'test.iso', { n: 5 });
      expect(result).toEqual({ status: 201, calls: 1, sawProcessEnv: 0 });
      expect(recorder.requests.some((r) => r.url === '/isolated' && r.json.n === 5)).toBe(true);
    });

    test('a function that never yields is terminated at its timeout', async () => {
      const { letter } = await run('iso', 'test.iso', { spin: true });
      expect(letter?.error).toBe('function iso timed out after 3000 ms');
    });

    test('a function that exceeds its memory limit fails, and the worker lives on', async () => {
      const { letter } = await run('iso', 'test.iso', { hog: true });
      expect(letter?.error).toBe('function exceeded its memory limit of 32 MiB');
      recorder.respond = () => ({ status: 200, body: {} });
      expect((await run('iso', 'test.iso', { n: 6 })).result).toMatchObject({ status: 200 });
    });
  });
});
