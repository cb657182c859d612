/**
 * Workflows on the real bus: a webhook event → a Python function → a TypeScript function → a Slack
 * message (a sequence), a route that posts to Slack with no code, fan-out, failure events, JSONata
 * filters and transformations, and trace context through every hop.
 */
import { createHmac, randomUUID } from 'node:crypto';
import path from 'node:path';
import type { CloudEvent } from '../src/events/cloudevent.js';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { startSlackApi } from './peers/slack-api.js';
import { bootSwitchboard, FIXTURES, startRecorder, waitFor, type Recorder, type TestSwitchboard } from './helpers/index.js';

const EXAMPLES = path.resolve(FIXTURES, '../../examples/functions');
const STRIPE_SECRET = 'whsec_workflow_test';
const SLACK_TOKEN = 'xoxb-workflow-token';

const yaml = (slackUrl: string, recorderUrl: string) => `
# Completed jobs kept: the tests read the functions' results from them.
bus: { keepCompleted: 100 }
connectors:
  - { name: stripe, type: webhook, config: { provider: stripe, secret: "\${env:STRIPE_SECRET}" } }
  - { name: slack, type: slack, config: { token: "\${env:SLACK_TOKEN}", baseUrl: "${slackUrl}/api/", allowPrivateNetworks: true } }
  - { name: recorder, type: http, config: { baseUrl: "${recorderUrl}", allowPrivateNetworks: true } }
sequences:
  - name: invoice-flow
    trigger: { type: com.stripe.invoice.paid }
    steps: [score, announce]
functions:
  - name: score
    runtime: process
    command: [python3, ${EXAMPLES}/score_invoice.py]
  - name: announce
    runtime: node
    module: ${EXAMPLES}/announce.ts
  - name: archive
    runtime: process
    command: [${EXAMPLES}/archive.sh]
    trigger: { type: com.stripe.invoice.paid }
  - name: big-orders
    runtime: node
    module: ./functions/record.js
    trigger: { type: com.example.order }
    filter: data.total > 100 and data.currency = "EUR"
    input: '{ "order": data.id, "cents": data.total * 100 }'
  - name: summarize
    runtime: node
    module: ./functions/echo.ts
    trigger: { type: com.example.summarize }
    emit: { type: com.example.summary, data: '{ "who": $.name, "from": $event.source }' }
  - name: summary-sink
    runtime: node
    module: ./functions/record.js
    trigger: { type: com.example.summary }
  - name: fragile
    runtime: node
    module: ./functions/flaky.js
    trigger: { type: com.example.fragile }
    retry: { attempts: 2, backoff: { type: fixed, delay: 10ms } }
  - name: compensate
    runtime: node
    module: ./functions/record.js
    trigger: { type: dev.switchboard.function.failed, subject: fragile }
routes:
  - name: paid-to-slack
    trigger: { type: com.stripe.invoice.paid }
    filter: data.data.object.amount_paid >= 100000
    connector: slack
    call: postMessage
    args: '{ "channel": "#sales", "text": "Big invoice " & data.data.object.id & " paid" }'
`;

describe('workflows', () => {
  let slack: Awaited<ReturnType<typeof startSlackApi>>;
  let recorder: Recorder;
  let t: TestSwitchboard;
  beforeAll(async () => {
    slack = await startSlackApi(SLACK_TOKEN);
    recorder = await startRecorder();
    t = await bootSwitchboard(yaml(slack.url, recorder.url), { env: { STRIPE_SECRET, SLACK_TOKEN } });
  });
  afterAll(async () => {
    await t?.close();
    await slack?.close();
    await recorder?.close();
  });
  const records = (fn: string) => recorder.requests.filter((r) => r.url === '/record' && r.json.function === fn);
  const publish = (type: string, data: unknown, extra: Partial<CloudEvent> = {}) =>
    t.sb.bus.publish([{ specversion: '1.0', id: randomUUID(), source: '/workflow-test', type, datacontenttype: 'application/json', data, ...extra }]);

  test('a Stripe webhook → a Python function → a TypeScript function → a Slack message, plus a no-code route and a bash fan-out', async () => {
    const invoice = { id: 'evt_wf_1', type: 'invoice.paid', created: 1790000000, data: { object: { id: 'in_77', amount_paid: 250_000, customer_name: 'Ada' } } };
    const body = JSON.stringify(invoice);
    const t0 = Math.floor(Date.now() / 1000);
    const signature = `t=${t0},v1=${createHmac('sha256', STRIPE_SECRET).update(`${t0}.${body}`).digest('hex')}`;
    const res = await fetch(`${t.sb.url}/hooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': signature, traceparent: 'ignored-by-webhooks' }, body });
    expect(res.status).toBe(202);

    const messages = await waitFor(() => slack.calls.filter((c) => c.path === '/api/chat.postMessage').length >= 2 && slack.calls, 'both Slack messages', 20_000);
    const texts = messages.map((c) => c.fields.text).sort();
    expect(texts).toEqual([':tada: Ada paid 2500.00 (invoice in_77)', 'Big invoice in_77 paid']);
    for (const call of messages) expect(call.auth).toBe(`Bearer ${SLACK_TOKEN}`);
    expect(messages.find((c) => c.fields.text === 'Big invoice in_77 paid')!.fields.channel).toBe('#sales');

    const { jobIdFor } = await import('../src/bus/bus.js');
    const archived = await waitFor(async () => {
      const job = await t.sb.bus.queue('archive')!.getJob(jobIdFor('archive', { source: 'https://stripe.com', id: 'evt_wf_1' }));
      return (await job?.isCompleted()) && (await t.sb.bus.queue('archive')!.getJob(job!.id!))!.returnvalue;
    }, 'the bash function');
    expect(archived).toMatch(/^archived \d+ bytes\n$/);
  });

  test('a route whose filter is false does not run', async () => {
    const before = slack.calls.length;
    const small = { id: 'evt_small', type: 'invoice.paid', created: 1790000000, data: { object: { id: 'in_1', amount_paid: 500, customer_name: 'Bo' } } };
    await publish('com.stripe.invoice.paid', small, { source: 'https://stripe.com', id: 'evt_small' });
    await waitFor(() => slack.calls.slice(before).some((c) => String(c.fields.text).includes('Bo paid')), 'the sequence message');
    expect(slack.calls.slice(before).some((c) => String(c.fields.text).startsWith('Big invoice'))).toBe(false);
    expect(await t.sb.bus.queue('paid-to-slack')!.getJobCountByTypes('waiting', 'active', 'completed', 'failed')).toBe(1);
  });

  test('a JSONata filter selects events and an input expression reshapes their data', async () => {
    await publish('com.example.order', { id: 'o-1', total: 50, currency: 'EUR' });
    await publish('com.example.order', { id: 'o-2', total: 150, currency: 'USD' });
    await publish('com.example.order', { id: 'o-3', total: 150, currency: 'EUR' });
    const [call] = await waitFor(() => records('big-orders').length > 0 && records('big-orders'), 'the filtered function');
    expect(call!.json.event.data).toEqual({ order: 'o-3', cents: 15000 });
    await publish('com.example.order', { id: 'o-4', total: 500, currency: 'EUR' });
    await waitFor(() => records('big-orders').length === 2, 'the second match');
    expect(records('big-orders').map((r) => r.json.event.data.order)).toEqual(['o-3', 'o-4']);
  });

  test("the emit block's JSONata shapes the next event's data, and the trace continues", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await publish('com.example.summarize', { name: 'Grace' }, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    const [call] = await waitFor(() => records('summary-sink').length > 0 && records('summary-sink'), 'the summary');
    expect(call!.json.event.data).toEqual({ who: 'Grace', from: '/workflow-test' });
    expect(call!.json.event.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(call!.json.event.traceparent).not.toContain('00f067aa0ba902b7');
  });

  test('a dead-lettered function announces dev.switchboard.function.failed, and a compensating function reacts', async () => {
    recorder.respond = (r) => (r.url === '/flaky' ? { status: 200, body: { fail: true } } : { status: 200, body: {} });
    const id = randomUUID();
    await publish('com.example.fragile', { important: true }, { id });
    const [call] = await waitFor(() => records('compensate').length > 0 && records('compensate'), 'the compensation');
    expect(call!.json.event).toMatchObject({
      type: 'dev.switchboard.function.failed',
      source: '/switchboard/functions/fragile',
      subject: 'fragile',
      data: { function: 'fragile', attempts: 2, error: 'told to fail on attempt 2', event: { id, data: { important: true } } },
    });
  });
});

describe('workflow configuration errors', () => {
  const file = path.join(FIXTURES, 'switchboard.yaml');
  const issues = async (yaml: string) => ((await parseConfig(yaml, file, { env: {} }).catch((e: unknown) => e)) as ConfigError).issues;

  test('a malformed JSONata expression is a config error with its line', async () => {
    expect(await issues('functions:\n  - name: f\n    runtime: node\n    module: ./functions/record.js\n    trigger: { type: x }\n    filter: "data.total >"\n')).toEqual([
      { file: 'test/fixtures/switchboard.yaml', line: 6, column: 13, path: 'functions[0].filter', message: expect.stringMatching(/^invalid JSONata expression at character \d+: /) },
    ]);
  });

  test('sequence steps must exist, and a step cannot set its own trigger', async () => {
    const found = await issues(
      'functions:\n  - name: a\n    runtime: node\n    module: ./functions/record.js\n    trigger: { type: x }\nsequences:\n  - name: s\n    trigger: { type: y }\n    steps: [a, ghost]\n',
    );
    expect(found.map((i) => `${i.line} ${i.path}: ${i.message}`)).toEqual([
      '5 functions[0].trigger: function "a" is a step of sequence "s", which sets its trigger',
      '9 sequences[0].steps[1]: unknown function "ghost"; known functions: a',
    ]);
  });

  test('a route names an outbound connector', async () => {
    const found = await issues("routes:\n  - name: r\n    trigger: { type: x }\n    connector: nope\n    call: postMessage\n    args: '{}'\n");
    expect(found[0]).toMatchObject({ line: 4, path: 'routes[0].connector', message: 'no outbound connector named "nope"; outbound connectors: none' });
  });

  test('the runtime decides which fields are needed', async () => {
    const found = await issues('functions:\n  - name: p\n    runtime: process\n    module: ./x.js\n    trigger: { type: x }\n');
    expect(found.map((i) => `${i.path}: ${i.message}`).sort()).toEqual(['functions[0].command: missing required field "command" for runtime process', 'functions[0].module: "module" does not apply to runtime process']);
  });
});
