/** /metrics moves as documented for an accepted event, a rejected one, a duplicate, a failing function and a dead letter. */
import { createHmac, randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { talliedCounter } from '../src/ops/metrics.js';
import { bootSwitchboard, startRecorder, waitFor } from './helpers/index.js';

const SECRET = 'metrics-signing-secret';

test('metrics for accepted, rejected and duplicate events, function runs and dead letters', async () => {
  const recorder = await startRecorder();
  recorder.respond = (r) => (r.url === '/flaky' ? { status: 200, body: { fail: true } } : { status: 200, body: {} });
  const t = await bootSwitchboard(
    `
connectors:
  - { name: open, type: webhook, config: { verify: { scheme: none }, event: { id: "{headers.x-id}" } } }
  - { name: signed, type: webhook, config: { provider: github, secret: "\${env:S}" } }
  - { name: recorder, type: http, config: { baseUrl: "${recorder.url}", allowPrivateNetworks: true } }
functions:
  - { name: good, runtime: node, module: ./functions/record.js, trigger: { type: dev.switchboard.webhook, connector: open } }
  - { name: bad, runtime: node, module: ./functions/flaky.js, trigger: { type: com.github.push }, retry: { attempts: 2, backoff: { type: fixed, delay: 10ms } } }
`,
    { env: { S: SECRET } },
  );
  const metric = async (name: string, labels: Record<string, string>) => {
    const text = await (await fetch(`${t.sb.url}/metrics`)).text();
    const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    const line = text.split('\n').find((l) => l.startsWith(name + '{') && wanted.every((w) => l.includes(w)));
    return line ? Number(line.split(' ').pop()) : 0;
  };
  try {
    const post = (path: string, headers: Record<string, string>, body = '{}') => fetch(`${t.sb.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    expect((await post('/hooks/open', { 'x-id': 'm-1' })).status).toBe(202);
    expect((await post('/hooks/open', { 'x-id': 'm-1' })).status).toBe(202);
    expect((await post('/hooks/signed', { 'x-github-event': 'push', 'x-hub-signature-256': 'sha256=00' })).status).toBe(401);
    const body = JSON.stringify({ repository: { html_url: 'https://github.com/o/r' } });
    const signed = { 'x-github-event': 'push', 'x-github-delivery': randomUUID(), 'x-hub-signature-256': 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex') };
    expect((await post('/hooks/signed', signed, body)).status).toBe(202);

    expect(await metric('switchboard_events_received_total', { connector: 'open' })).toBe(2);
    expect(await metric('switchboard_events_accepted_total', { connector: 'open' })).toBe(2);
    expect(await metric('switchboard_events_duplicate_total', { connector: 'open' })).toBe(1);
    expect(await metric('switchboard_events_rejected_total', { connector: 'signed', reason: 'SWB_ERR_HTTP_SIGNATURE' })).toBe(1);
    expect(await metric('switchboard_events_accepted_total', { connector: 'signed' })).toBe(1);
    expect(await metric('switchboard_enqueue_duration_seconds_count', { connector: 'open' })).toBe(2);

    await waitFor(async () => (await metric('switchboard_function_runs_total', { function: 'good', outcome: 'succeeded' })) === 1, 'the good run');
    await waitFor(async () => (await metric('switchboard_function_runs_total', { function: 'bad', outcome: 'dead-lettered' })) === 1, 'the dead letter');
    expect(await metric('switchboard_function_runs_total', { function: 'bad', outcome: 'failed' })).toBe(2);
    expect(await metric('switchboard_queue_jobs', { queue: 'fn.bad', state: 'failed' })).toBe(1);
    expect(await metric('switchboard_function_duration_seconds_count', { function: 'good' })).toBe(1);
    // The good function called the recorder once, the bad one twice (its two attempts).
    expect(await metric('switchboard_outbound_calls_total', { connector: 'recorder', status: '200' })).toBe(3);
    const text = await (await fetch(`${t.sb.url}/metrics`)).text();
    expect(text).not.toContain('m-1'); // no event ids in labels
  } finally {
    await t.close();
    await recorder.close();
  }
});

test('a tallied counter hands its plain-number counts to prom-client when read, once each', async () => {
  const registry = new Registry();
  const counter = talliedCounter({ name: 'tallied_total', help: 'h', labelNames: ['connector'], registers: [registry] });
  const value = async (connector: string) => (await counter.get()).values.find((v) => v.labels.connector === connector)?.value ?? 0;
  const a = counter.tally({ connector: 'a' });
  const again = counter.tally({ connector: 'a' }); // a reloaded connector asks for its tally again
  const b = counter.tally({ connector: 'b' });
  a.add(2);
  again.add(3);
  b.add(1);
  counter.inc({ connector: 'a' }, 10); // direct increments still count
  expect(await value('a')).toBe(15);
  expect(await value('b')).toBe(1);
  // Reading again adds nothing; counting again adds to what was read.
  expect(await value('a')).toBe(15);
  a.add(1);
  expect(await registry.metrics()).toContain('tallied_total{connector="a"} 16');
});
