/** Every provider preset end to end on the real bus: request in, CloudEvent with the documented attributes out. */
import { createHmac, generateKeyPairSync, sign as edSign } from 'node:crypto';
import type { CloudEvent } from '../../src/events/cloudevent.js';
import { bootSwitchboard, dedupHolders, type TestSwitchboard } from '../../test/helpers/index.js';
import { signRequest } from './sign.js';
import type { WebhookConfig } from './schema.js';

const { publicKey: discordPublic, privateKey: discordPrivate } = generateKeyPairSync('ed25519');
const DISCORD_KEY = Buffer.from(discordPublic.export({ format: 'jwk' }).x!, 'base64url').toString('hex');
const WHSEC = 'whsec_' + Buffer.from('standard-webhooks-test-key!').toString('base64');

const YAML = `
connectors:
  - { name: github, type: webhook, config: { provider: github, secret: "\${env:S}" } }
  - { name: stripe, type: webhook, config: { provider: stripe, secret: "\${env:S}" } }
  - { name: slack, type: webhook, config: { provider: slack, secret: "\${env:S}" } }
  - { name: shopify, type: webhook, config: { provider: shopify, secret: "\${env:S}" } }
  - { name: twilio, type: webhook, config: { provider: twilio, secret: "\${env:S}", publicUrl: "https://hooks.example.com/hooks/twilio" } }
  - { name: gitlab, type: webhook, config: { provider: gitlab, secret: "\${env:S}" } }
  - { name: standard, type: webhook, config: { provider: standard-webhooks, secret: "\${env:WHSEC}" } }
  - { name: discord, type: webhook, config: { provider: discord, publicKey: "${DISCORD_KEY}" } }
  - { name: zoom, type: webhook, config: { provider: zoom, secret: "\${env:S}" } }
  - { name: meta, type: webhook, config: { provider: meta, secret: "\${env:S}", verifyToken: "\${env:VT}" } }
  - { name: msgraph, type: webhook, config: { provider: msgraph, secret: "\${env:S}" } }
  - { name: short-memory, type: webhook, config: { provider: github, secret: "\${env:S}", dedupWindow: 1h } }
  - { name: limited, type: webhook, config: { verify: { scheme: none }, bodyLimit: 1mib, rateLimit: { requests: 3, per: 1m } } }
functions:
  - name: everything
    runtime: node
    module: ./functions/record.js
    trigger: { source: { prefix: "" } }
`;

const SECRET = 'provider-test-secret';

describe('provider presets end to end', () => {
  let t: TestSwitchboard;
  beforeAll(async () => {
    t = await bootSwitchboard(YAML, { worker: false, listen: false, env: { S: SECRET, WHSEC, VT: 'verify-token-1' } });
  });
  afterAll(() => t?.close());

  const connectorConfig = (name: string) => t.config.connectors.find((c) => c.name === name)!.config as WebhookConfig;
  const queue = () => t.sb.bus.queue('everything')!;
  const jobCount = async () => (await queue().getJobCounts('waiting')).waiting!;

  async function send(name: string, body: string, options: { contentType?: string; eventName?: string; headers?: Record<string, string>; query?: string; unsigned?: boolean } = {}) {
    const url = `/hooks/${name}${options.query ?? ''}`;
    const signed = options.unsigned
      ? { 'content-type': options.contentType ?? 'application/json' }
      : signRequest(connectorConfig(name), { body: Buffer.from(body), contentType: options.contentType ?? 'application/json', url, publicBaseUrl: 'https://hooks.example.com', ...(options.eventName ? { eventName: options.eventName } : {}) });
    return t.sb.gateway!.app.inject({ method: 'POST', url, headers: { ...signed, ...options.headers }, payload: body });
  }

  async function eventOf(response: { statusCode: number; headers: Record<string, unknown> }): Promise<CloudEvent> {
    expect(response.statusCode).toBeLessThan(300);
    const id = String(response.headers['switchboard-event-id']);
    const jobs = await queue().getJobs(['waiting']);
    const job = jobs.find((j) => (j.data as CloudEvent).id === id);
    expect(job).toBeDefined();
    return job!.data as CloudEvent;
  }

  test('github: com.github.<event>.<action>, the repository as source, the delivery id as id', async () => {
    const res = await send('github', JSON.stringify({ action: 'opened', repository: { html_url: 'https://github.com/octo/hello' } }), { eventName: 'issues', headers: { 'x-github-delivery': 'gh-d-1' } });
    expect(await eventOf(res)).toMatchObject({ type: 'com.github.issues.opened', source: 'https://github.com/octo/hello', id: 'gh-d-1', connector: 'github' });
  });

  test('stripe: com.stripe.<type>, the event id, the account, the object as subject, created as time', async () => {
    const body = JSON.stringify({ id: 'evt_123', type: 'invoice.paid', created: 1790000000, account: 'acct_1', data: { object: { id: 'in_1' } } });
    expect(await eventOf(await send('stripe', body))).toMatchObject({
      type: 'com.stripe.invoice.paid',
      id: 'evt_123',
      source: 'https://stripe.com/accounts/acct_1',
      subject: 'in_1',
      time: new Date(1790000000_000).toISOString(),
    });
  });

  test('slack: Events API events and slash commands', async () => {
    const callback = JSON.stringify({ type: 'event_callback', team_id: 'T1', event_id: 'Ev1', event_time: 1790000000, event: { type: 'app_mention', channel: 'C1' } });
    expect(await eventOf(await send('slack', callback))).toMatchObject({ type: 'com.slack.event.app_mention', id: 'Ev1', source: 'https://slack.com/team/T1', subject: 'C1' });
    const command = 'command=%2Fdeploy&text=prod&team_id=T1&trigger_id=13345224609.738474920.8088930838d88f008e0';
    const event = await eventOf(await send('slack', command, { contentType: 'application/x-www-form-urlencoded' }));
    expect(event).toMatchObject({ type: 'com.slack.command', subject: '/deploy', id: '13345224609.738474920.8088930838d88f008e0', data: { command: '/deploy', text: 'prod' } });
  });

  test('shopify: com.shopify.<topic>, the shop as source, the webhook id as id', async () => {
    const res = await send('shopify', JSON.stringify({ id: 820982911946154500 }), { eventName: 'orders/create', headers: { 'x-shopify-webhook-id': 'sh-1' } });
    expect(await eventOf(res)).toMatchObject({ type: 'com.shopify.orders.create', source: 'https://example.myshopify.com', id: 'sh-1' });
  });

  test('twilio: an incoming SMS, answered with empty TwiML', async () => {
    const body = new URLSearchParams({ MessageSid: 'SM1', SmsStatus: 'received', AccountSid: 'AC1', Body: 'hello' }).toString();
    const res = await send('twilio', body, { contentType: 'application/x-www-form-urlencoded', headers: { 'i-twilio-idempotency-token': 'tw-1' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/xml');
    expect(res.body).toBe('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
    expect(await eventOf(res)).toMatchObject({ type: 'com.twilio.message.received', source: 'https://api.twilio.com/2010-04-01/Accounts/AC1', subject: 'SM1', id: 'tw-1', data: { Body: 'hello' } });
  });

  test('gitlab: com.gitlab.<object_kind>, the project as source, the event UUID as id', async () => {
    const res = await send('gitlab', JSON.stringify({ object_kind: 'push', ref: 'refs/heads/main', project: { web_url: 'https://gitlab.com/acme/app' } }), { headers: { 'x-gitlab-event-uuid': 'gl-1' } });
    expect(await eventOf(res)).toMatchObject({ type: 'com.gitlab.push', source: 'https://gitlab.com/acme/app', subject: 'refs/heads/main', id: 'gl-1' });
  });

  test('standard-webhooks: the payload type, the webhook-id as id, the payload timestamp as time', async () => {
    const res = await send('standard', JSON.stringify({ type: 'invoice.paid', timestamp: '2026-11-25T08:00:00Z', data: { amount: 5 } }));
    const event = await eventOf(res);
    expect(event).toMatchObject({ type: 'invoice.paid', time: '2026-11-25T08:00:00Z', source: '/switchboard/webhook/standard' });
    expect(event.id).toMatch(/^msg_/);
  });

  test('discord: an application command, answered with a deferred response', async () => {
    const body = JSON.stringify({ type: 2, id: 'int-1', application_id: 'app-1', data: { name: 'deploy' } });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = edSign(null, Buffer.from(timestamp + body), discordPrivate).toString('hex');
    const res = await send('discord', body, { unsigned: true, headers: { 'x-signature-ed25519': signature, 'x-signature-timestamp': timestamp } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ type: 5 });
    expect(await eventOf(res)).toMatchObject({ type: 'com.discord.interaction.application_command', id: 'int-1', source: 'https://discord.com/applications/app-1', subject: 'deploy' });
  });

  test('zoom: us.zoom.<event>, the account as source', async () => {
    const res = await send('zoom', JSON.stringify({ event: 'meeting.started', event_ts: 1790000000123, payload: { account_id: 'acc1', object: { id: 'm1' } } }));
    expect(await eventOf(res)).toMatchObject({ type: 'us.zoom.meeting.started', source: 'https://zoom.us/account/acc1', subject: 'm1', time: new Date(1790000000123).toISOString() });
  });

  test('meta: com.meta.<object>, signed like GitHub with the app secret', async () => {
    const res = await send('meta', JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: 'WABA1' }] }));
    expect(await eventOf(res)).toMatchObject({ type: 'com.meta.whatsapp_business_account', source: 'https://graph.facebook.com/WABA1' });
  });

  test('msgraph: com.microsoft.graph.<changeType>, verified by clientState', async () => {
    const body = JSON.stringify({ value: [{ clientState: SECRET, changeType: 'created', resource: 'users/1/messages', subscriptionId: 'sub1' }] });
    expect(await eventOf(await send('msgraph', body))).toMatchObject({ type: 'com.microsoft.graph.created', source: 'https://graph.microsoft.com/users/1/messages', subject: 'sub1' });
    const forged = JSON.stringify({ value: [{ clientState: 'guess', changeType: 'created' }] });
    expect((await send('msgraph', forged)).statusCode).toBe(401);
  });

  describe('handshakes are answered as documented, with no event created', () => {
    let before: number;
    beforeEach(async () => {
      before = await jobCount();
    });
    afterEach(async () => {
      expect(await jobCount()).toBe(before);
    });

    test('slack url_verification echoes the challenge (after the signature check)', async () => {
      const body = JSON.stringify({ token: 'x', challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P', type: 'url_verification' });
      const res = await send('slack', body);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' });
      expect((await send('slack', body, { headers: { 'x-slack-signature': 'v0=00' } })).statusCode).toBe(401);
    });

    test('meta GET hub.challenge is echoed when the verify token matches, 403 otherwise', async () => {
      const ok = await t.sb.gateway!.app.inject({ method: 'GET', url: '/hooks/meta?hub.mode=subscribe&hub.verify_token=verify-token-1&hub.challenge=1158201444' });
      expect(ok.statusCode).toBe(200);
      expect(ok.headers['content-type']).toMatch(/^text\/plain/);
      expect(ok.body).toBe('1158201444');
      const bad = await t.sb.gateway!.app.inject({ method: 'GET', url: '/hooks/meta?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1158201444' });
      expect(bad.statusCode).toBe(403);
    });

    test('microsoft graph validationToken is echoed as text/plain', async () => {
      const res = await t.sb.gateway!.app.inject({ method: 'POST', url: '/hooks/msgraph?validationToken=Validation%3A%20Testing%20client%20application' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      expect(res.body).toBe('Validation: Testing client application');
    });

    test('zoom endpoint.url_validation answers plainToken and its HMAC', async () => {
      const res = await send('zoom', JSON.stringify({ event: 'endpoint.url_validation', payload: { plainToken: 'qgg8vlvZRS6UYooatFL8Aw' }, event_ts: 1654503849680 }));
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ plainToken: 'qgg8vlvZRS6UYooatFL8Aw', encryptedToken: createHmac('sha256', SECRET).update('qgg8vlvZRS6UYooatFL8Aw').digest('hex') });
    });

    test('discord PING gets a PONG', async () => {
      const body = JSON.stringify({ type: 1 });
      const timestamp = String(Math.floor(Date.now() / 1000));
      const signature = edSign(null, Buffer.from(timestamp + body), discordPrivate).toString('hex');
      const res = await send('discord', body, { unsigned: true, headers: { 'x-signature-ed25519': signature, 'x-signature-timestamp': timestamp } });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ type: 1 });
      const unsigned = await send('discord', body, { unsigned: true });
      expect(unsigned.statusCode).toBe(401);
    });
  });

  test('the same delivery three times gives one event and three identical answers', async () => {
    const body = JSON.stringify({ id: 'evt_dup', type: 'charge.succeeded', created: 1790000000 });
    const config = connectorConfig('stripe');
    const headers = signRequest(config, { body: Buffer.from(body), contentType: 'application/json', url: '/hooks/stripe', publicBaseUrl: 'x' });
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await t.sb.gateway!.app.inject({ method: 'POST', url: '/hooks/stripe', headers, payload: body }));
    expect(answers.map((a) => [a.statusCode, a.body])).toEqual(Array(3).fill([202, JSON.stringify({ id: 'evt_dup', status: 'accepted' })]));
    const jobs = await queue().getJobs(['waiting']);
    expect(jobs.filter((j) => (j.data as CloudEvent).id === 'evt_dup')).toHaveLength(1);
  });

  test("a connector's dedupWindow sets how long its delivery ids are remembered", async () => {
    const { jobIdFor } = await import('../../src/bus/bus.js');
    const before = Date.now();
    const res = await send('short-memory', JSON.stringify({ repository: { html_url: 'https://github.com/o/r' } }), { eventName: 'push', headers: { 'x-github-delivery': 'win-1' } });
    const after = Date.now();
    const event = await eventOf(res);
    // The id is in the set of the window's quarter it came in, kept one to 1.25 windows (an hour here).
    const holders = await dedupHolders(t.sb.bus.connection, `${t.prefix}:fn.everything:`, 3_600_000, jobIdFor('everything', event), before, after);
    expect(holders).toHaveLength(1);
    const ttl = await t.sb.bus.connection.pttl(holders[0]!);
    expect(ttl).toBeGreaterThan(3_500_000);
    expect(ttl).toBeLessThanOrEqual(4_500_000);
  });

  test('a 2 MiB body against a 1 MiB limit gets 413 and nothing is enqueued; a burst over the rate limit gets 429', async () => {
    const before = await jobCount();
    const big = JSON.stringify({ blob: 'x'.repeat(2 * 1024 * 1024) });
    const res = await t.sb.gateway!.app.inject({ method: 'POST', url: '/hooks/limited', headers: { 'content-type': 'application/json' }, payload: big });
    expect(res.statusCode).toBe(413);
    expect(await jobCount()).toBe(before);

    const statuses: number[] = [];
    let retryAfter: unknown;
    for (let i = 0; i < 5; i++) {
      const r = await t.sb.gateway!.app.inject({ method: 'POST', url: '/hooks/limited', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ i }) });
      statuses.push(r.statusCode);
      if (r.statusCode === 429) retryAfter = r.headers['retry-after'];
    }
    // The 413 was refused before the connector ran, so it spent no token.
    expect(statuses).toEqual([202, 202, 202, 429, 429]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  });
});
