/**
 * The slack connector against a local server that checks each request as Slack's Web API documents it
 * (POST https://slack.com/api/chat.postMessage, bot token in `Authorization: Bearer`, arguments as
 * form or JSON fields; 429 with Retry-After when rate limited).
 */
import definition, { type SlackApi } from './index.js';
import { captureLogs } from '../../test/helpers/index.js';
import { startSlackApi } from '../../test/peers/slack-api.js';

describe('slack connector', () => {
  const TOKEN = 'xoxb-test-token-123';
  let slack: Awaited<ReturnType<typeof startSlackApi>>;
  beforeAll(async () => {
    slack = await startSlackApi(TOKEN);
  });
  afterAll(() => slack.close());

  const connect = (config: Record<string, unknown>) => {
    const logs = captureLogs([TOKEN]);
    const outbound = definition.outbound!({
      name: 'slack',
      config: { baseUrl: `${slack.url}/api/`, timeout: '5s', retries: 3, allowPrivateNetworks: true, ...config } as never,
      log: logs.log,
      signal: new AbortController().signal,
    });
    return { api: outbound.api as SlackApi, logs };
  };

  test('chat.postMessage is sent as Slack documents it', async () => {
    const { api } = connect({ token: TOKEN });
    const answer = await api.postMessage({ channel: 'C123', text: 'Invoice in_1 paid' });
    expect(answer).toMatchObject({ ok: true, channel: 'C123', ts: '1503435956.000247' });
    const call = slack.calls.at(-1)!;
    expect(call).toMatchObject({ path: '/api/chat.postMessage', auth: `Bearer ${TOKEN}`, fields: { channel: 'C123', text: 'Invoice in_1 paid' } });
    expect(call.fields).not.toHaveProperty('token');
  });

  test('a 429 is retried after Retry-After', async () => {
    const { api } = connect({ token: TOKEN });
    slack.rateLimit(1);
    const before = slack.calls.length;
    const started = Date.now();
    await api.postMessage({ channel: 'C123', text: 'after the wait' });
    expect(slack.calls.length - before).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  test("Slack's errors are thrown with Slack's error code", async () => {
    const { api } = connect({ token: TOKEN });
    await expect(api.postMessage({ channel: '', text: 'x' })).rejects.toThrow(/channel_not_found/);
  });

  test('incoming webhooks', async () => {
    const { api } = connect({ webhookUrl: `${slack.url}/hooks/incoming` });
    await api.sendWebhook({ text: 'hello from a webhook' });
    expect(slack.calls.at(-1)).toMatchObject({ path: '/hooks/incoming', fields: { text: 'hello from a webhook' } });
  });

  test('private addresses are refused unless allowed', async () => {
    const { api } = connect({ token: TOKEN, allowPrivateNetworks: false });
    await expect(api.postMessage({ channel: 'C1', text: 'x' })).rejects.toThrow(/refused|private/);
  });

  test('the token never reaches the logs', async () => {
    const { api, logs } = connect({ token: TOKEN });
    await api.postMessage({ channel: 'C123', text: 'quiet' });
    await api.postMessage({ channel: '', text: 'x' }).catch(() => {});
    expect(logs.lines.join('\n')).not.toContain(TOKEN);
  });
});
