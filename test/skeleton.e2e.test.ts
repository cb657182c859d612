/**
 * The walking skeleton end to end, over real HTTP and real Redis: a signed webhook becomes a
 * CloudEvent, runs a function on a worker, and the function calls a backend through a connector.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { listDeadLetters, replayDeadLetters } from '../src/bus/dead-letters.js';
import { bootSwitchboard, startRecorder, waitFor, type Recorder, type TestSwitchboard } from './helpers/index.js';

const SECRET = 'test-github-secret-0123456789';

function githubDelivery(body: object, options: { secret?: string; delivery?: string; event?: string } = {}) {
  const raw = JSON.stringify(body);
  const signature = 'sha256=' + createHmac('sha256', options.secret ?? SECRET).update(raw).digest('hex');
  return {
    body: raw,
    headers: {
      'content-type': 'application/json',
      'x-github-event': options.event ?? 'push',
      'x-github-delivery': options.delivery ?? randomUUID(),
      'x-hub-signature-256': signature,
    },
  };
}

const PUSH = { ref: 'refs/heads/main', repository: { full_name: 'octo/hello' }, commits: [{ message: 'one' }] };

function yaml(recorderUrl: string): string {
  return `
# Completed jobs kept: the tests read the functions' results from them.
bus: { keepCompleted: 100 }
connectors:
  - name: github
    type: webhook
    config:
      verify: { scheme: github }
      secret: "\${env:GITHUB_SECRET}"
      event:
        type: com.github.{headers.x-github-event}
        source: https://github.com/{body.repository.full_name}
        subject: "{body.ref}"
        id: "{headers.x-github-delivery}"
  - name: recorder
    type: http
    config: { baseUrl: "${recorderUrl}", allowPrivateNetworks: true, auth: { type: bearer, token: "\${env:RECORDER_TOKEN}" } }
functions:
  - name: on-push
    runtime: node
    module: ./functions/record.js
    trigger: { type: com.github.push }
    concurrency: 1
  - name: step-a
    runtime: node
    module: ./functions/echo.ts
    trigger: { type: com.example.start }
    emit: { type: com.example.step-a.done }
  - name: step-b
    runtime: node
    module: ./functions/record.js
    trigger: { type: com.example.step-a.done }
  - name: flaky
    runtime: node
    module: ./functions/flaky.js
    trigger: { type: com.example.flaky }
    retry: { attempts: 3, backoff: { type: exponential, delay: 40ms } }
  - name: plain
    runtime: node
    module: ./functions/plain.js
    trigger: { type: com.example.plain }
    retry: { attempts: 1 }
  - name: slowpoke
    runtime: node
    module: ./functions/slow.js
    trigger: { type: com.example.slow }
    timeout: 100ms
    retry: { attempts: 2, backoff: { type: fixed, delay: 10ms } }
`;
}

describe('walking skeleton', () => {
  let recorder: Recorder;
  let t: TestSwitchboard;

  beforeAll(async () => {
    recorder = await startRecorder();
    t = await bootSwitchboard(yaml(recorder.url), { env: { GITHUB_SECRET: SECRET, RECORDER_TOKEN: 'recorder-token-xyz' } });
  });
  afterAll(async () => {
    await t?.close();
    await recorder?.close();
  });
  beforeEach(() => {
    recorder.requests.length = 0;
    recorder.respond = () => ({ status: 200, body: { ok: true } });
  });

  const post = (path: string, delivery: { body: string; headers: Record<string, string> }) =>
    fetch(t.sb.url + path, { method: 'POST', headers: delivery.headers, body: delivery.body });
  const recordsFor = (fn: string) => recorder.requests.filter((r) => r.url === '/record' && r.json.function === fn);

  test('a GitHub-signed webhook reaches a function as a CloudEvent, and its outbound call reaches the backend', async () => {
    const delivery = githubDelivery(PUSH);
    const res = await post('/hooks/github', delivery);
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string };
    expect(body.id).toBe(delivery.headers['x-github-delivery']);
    expect(res.headers.get('switchboard-event-id')).toBe(body.id);

    const [call] = await waitFor(() => recordsFor('on-push').length === 1 && recordsFor('on-push'), 'the function call');
    expect(call!.method).toBe('POST');
    expect(call!.headers.authorization).toBe('Bearer recorder-token-xyz');
    expect(call!.json.event).toMatchObject({
      specversion: '1.0',
      id: delivery.headers['x-github-delivery'],
      type: 'com.github.push',
      source: 'https://github.com/octo/hello',
      subject: 'refs/heads/main',
      datacontenttype: 'application/json',
      connector: 'github',
      data: PUSH,
    });
    expect(call!.json.attempt).toBe(1);
  });

  test('a wrong or missing signature gets 401 and nothing is enqueued', async () => {
    const queue = t.sb.bus.queue('on-push')!;
    // A job of an earlier test may move from active to completed meanwhile: compare the total.
    const total = async () => Object.values(await queue.getJobCounts()).reduce((a, b) => a + b, 0);
    const before = await total();
    const wrong = githubDelivery(PUSH, { secret: 'not-the-secret' });
    const res1 = await post('/hooks/github', wrong);
    expect(res1.status).toBe(401);
    expect(await res1.json()).toMatchObject({ error: 'SWB_ERR_HTTP_SIGNATURE' });

    const missing = githubDelivery(PUSH);
    delete (missing.headers as Record<string, string>)['x-hub-signature-256'];
    const res2 = await post('/hooks/github', missing);
    expect(res2.status).toBe(401);
    expect((await res2.json()) as object).toMatchObject({ message: expect.stringContaining('missing signature') });

    const tampered = githubDelivery(PUSH);
    tampered.body = tampered.body.replace('octo/hello', 'evil/repo');
    expect((await post('/hooks/github', tampered)).status).toBe(401);

    expect(await total()).toBe(before);
    expect(await t.sb.bus.connection.xlen(`${t.prefix}:unrouted`)).toBe(0);
  });

  test('the same delivery id sent twice runs the function once', async () => {
    const delivery = githubDelivery(PUSH);
    const first = await post('/hooks/github', delivery);
    const second = await post('/hooks/github', delivery);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(((await second.json()) as { id: string }).id).toBe(((await first.json()) as { id: string }).id);
    // on-push runs one job at a time in order: once a later delivery has run, a duplicate would have too.
    const marker = githubDelivery({ ...PUSH, ref: 'refs/heads/marker' });
    expect((await post('/hooks/github', marker)).status).toBe(202);
    await waitFor(() => recordsFor('on-push').some((r) => r.json.event.subject === 'refs/heads/marker'), 'the marker delivery');
    const runs = recordsFor('on-push').filter((r) => r.json.event.id === delivery.headers['x-github-delivery']);
    expect(runs).toHaveLength(1);
  });

  test("function A's returned value, emitted as a new event, triggers function B with that value as data", async () => {
    const start = { specversion: '1.0' as const, id: randomUUID(), source: '/test', type: 'com.example.start', data: { order: 42 } };
    await t.sb.bus.publish([start]);
    const [call] = await waitFor(() => recordsFor('step-b').length > 0 && recordsFor('step-b'), 'step-b to run');
    expect(call!.json.event).toMatchObject({
      type: 'com.example.step-a.done',
      source: '/switchboard/functions/step-a',
      data: { order: 42, seenBy: 'step-a' },
    });
    // Both events' journals tell the workflow: the start emitted the next event, which arrived from
    // step-a and went to step-b.
    const emittedId = call!.json.event.id as string;
    const journal = await waitFor(async () => {
      const entries = await t.sb.journal!.get(emittedId);
      return entries?.some((e) => e.kind === 'attempt') && entries;
    }, "the emitted event's journal");
    expect(journal.map((e) => e.kind)).toEqual(['received', 'routed', 'attempt']);
    expect(journal[0]).toMatchObject({ function: 'step-a', type: 'com.example.step-a.done', source: '/switchboard/functions/step-a' });
    expect(journal[1]).toMatchObject({ to: ['step-b'] });
    expect(journal[2]).toMatchObject({ function: 'step-b', outcome: 'succeeded' });
    expect(await t.sb.journal!.get(start.id)).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'emitted', function: 'step-a', eventId: emittedId })]));
    expect((await t.sb.journal!.recent()).map((r) => r.id)).toContain(emittedId);
  });

  test('a throwing function is retried with backoff, dead-lettered after its last attempt, and runs again after replay', async () => {
    recorder.respond = (r) => (r.url === '/flaky' ? { status: 200, body: { fail: true } } : { status: 200, body: { ok: true } });
    const event = { specversion: '1.0' as const, id: randomUUID(), source: '/test', type: 'com.example.flaky' };
    await t.sb.bus.publish([event]);
    const names = t.config.functions.map((f) => f.name);
    const [letter] = await waitFor(async () => {
      const letters = await listDeadLetters(t.sb.bus, names, { functions: ['flaky'] });
      return letters.length > 0 && letters;
    }, 'the dead letter');
    expect(letter).toMatchObject({ function: 'flaky', attempts: 3, event: { id: event.id }, error: 'told to fail on attempt 3' });
    const tries = recorder.requests.filter((r) => r.url === '/flaky');
    expect(tries.map((r) => r.json.attempt)).toEqual([1, 2, 3]);
    // Exponential backoff: at least 40 ms before the second attempt, at least 80 ms before the third.
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(35);
    expect(tries[2]!.at - tries[1]!.at).toBeGreaterThanOrEqual(75);

    recorder.respond = () => ({ status: 200, body: { fail: false } });
    const replayed = await replayDeadLetters(t.sb.bus, names, { functions: ['flaky'] });
    expect(replayed.map((l) => l.event.id)).toEqual([event.id]);
    const job = await waitFor(async () => {
      const j = await t.sb.bus.queue('flaky')!.getJob(letter!.jobId);
      return (await j?.isCompleted()) && (await t.sb.bus.queue('flaky')!.getJob(letter!.jobId));
    }, 'the replayed job to complete');
    expect(job.returnvalue).toEqual({ succeededOnAttempt: 1 });
    expect(await listDeadLetters(t.sb.bus, names, { functions: ['flaky'] })).toEqual([]);
  });

  test('a handler that is not async: its plain value is the result, and its synchronous throw fails the run', async () => {
    const names = t.config.functions.map((f) => f.name);
    const ok = { specversion: '1.0' as const, id: randomUUID(), source: '/test', type: 'com.example.plain', data: { n: 21 } };
    const refused = { specversion: '1.0' as const, id: randomUUID(), source: '/test', type: 'com.example.plain', data: { fail: true } };
    await t.sb.bus.publish([ok, refused]);
    const [letter] = await waitFor(async () => {
      const letters = await listDeadLetters(t.sb.bus, names, { functions: ['plain'] });
      return letters.length > 0 && letters;
    }, 'the refused run to be dead-lettered');
    expect(letter).toMatchObject({ function: 'plain', attempts: 1, event: { id: refused.id }, error: 'plain handler refused' });
    const [done] = await waitFor(async () => {
      const completed = await t.sb.bus.queue('plain')!.getCompleted();
      return completed.length > 0 && completed;
    }, 'the other run to complete');
    expect(done!.data.id).toBe(ok.id);
    expect(done!.returnvalue).toEqual({ doubled: 42 });
  });

  test('a function that runs past its timeout is aborted, retried and dead-lettered with a timeout error', async () => {
    const event = { specversion: '1.0' as const, id: randomUUID(), source: '/test', type: 'com.example.slow' };
    await t.sb.bus.publish([event]);
    const names = t.config.functions.map((f) => f.name);
    const [letter] = await waitFor(async () => {
      const letters = await listDeadLetters(t.sb.bus, names, { functions: ['slowpoke'] });
      return letters.length > 0 && letters;
    }, 'the timed-out job to be dead-lettered');
    expect(letter).toMatchObject({ attempts: 2, error: 'function slowpoke timed out after 100 ms' });
    const aborted = await waitFor(() => {
      const calls = recorder.requests.filter((r) => r.url === '/aborted');
      return calls.length === 2 && calls;
    }, 'both runs to see their abort signal');
    expect(aborted.map((r) => r.json)).toEqual([
      { attempt: 1, reason: 'function slowpoke timed out after 100 ms' },
      { attempt: 2, reason: 'function slowpoke timed out after 100 ms' },
    ]);
  });
});
