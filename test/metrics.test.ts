/** /metrics moves as documented for an accepted event, a rejected one, a duplicate, a failing function and a dead letter. */
import { createHmac, randomUUID } from 'node:crypto';
import { Histogram, Registry } from 'prom-client';
import { TalliedHistogram, talliedCounter } from '../src/ops/metrics.js';
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

test('a tallied histogram reads as prom-client\'s own Histogram given the same observations', async () => {
  const config = { name: 'run_seconds', help: 'Run time.', labelNames: ['function'] as const, buckets: [0.001, 0.01, 0.1, 1] };
  const theirs = new Registry();
  const ours = new Registry();
  const reference = new Histogram({ ...config, labelNames: [...config.labelNames], registers: [theirs] });
  const tallied = new TalliedHistogram({ ...config, registers: [ours] });
  const a = tallied.tally({ function: 'a' });
  const again = tallied.tally({ function: 'a' }); // a reloaded function asks for its series again
  const b = tallied.tally({ function: 'b "quoted"' });
  tallied.tally({ function: 'never observed' }); // not shown until observed, as prom-client's children
  // On a bound (counted in that bucket), between bounds, above the last (only +Inf), and zero.
  for (const [observer, fn, value] of [[a, 'a', 0.001], [again, 'a', 0.005], [a, 'a', 2.5], [b, 'b "quoted"', 0], [b, 'b "quoted"', 0.1]] as const) {
    observer.observe(value);
    reference.observe({ function: fn }, value);
  }
  expect(await ours.metrics()).toBe(await theirs.metrics());
  // The same JSON but for prom-client's empty exemplar slots (exemplars are off).
  const withoutExemplars = (metrics: Awaited<ReturnType<Registry['getMetricsAsJSON']>>) => metrics.map((m) => ({ ...m, values: m.values.map(({ exemplar: _, ...v }: Record<string, unknown>) => v) }));
  expect(withoutExemplars(await ours.getMetricsAsJSON())).toEqual(withoutExemplars(await theirs.getMetricsAsJSON()));
  expect(await ours.metrics()).toContain('run_seconds_bucket{le="0.01",function="a"} 2');
  expect(() => a.observe(Number.NaN)).toThrow(TypeError);
  // Reset empties every series; observing again starts from zero.
  ours.resetMetrics();
  theirs.resetMetrics();
  expect(await ours.metrics()).toBe(await theirs.metrics());
  a.observe(0.5);
  reference.observe({ function: 'a' }, 0.5);
  expect(await ours.metrics()).toBe(await theirs.metrics());
});
