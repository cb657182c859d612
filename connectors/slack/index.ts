/**
 * Slack, outbound: `chat.postMessage` (and any Web API method) with a bot token through Slack's own
 * `@slack/web-api`, and incoming webhooks through `@slack/webhook`. The SDK honours `Retry-After` on
 * 429 and retries server errors; the base URL is overridable (tests, proxies, GovSlack).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { IncomingWebhook, IncomingWebhookSendArguments } from '@slack/webhook';
import type { ChatPostMessageArguments, WebClient } from '@slack/web-api';
import { SecretString } from '../../src/config/schema.js';
import { Duration, toMilliseconds } from '../../src/config/units.js';
import { defineConnector, type ConfigProblem } from '../../src/registry/contract.js';
import { context } from '@opentelemetry/api';
import { createGuardedNodeAgent } from '../../src/net/outbound.js';
import { inSpan, SpanKind } from '../../src/ops/tracing.js';

export const SlackConfigSchema = Type.Object(
  {
    token: Type.Optional(SecretString({ description: 'bot token (xoxb-…) for chat.postMessage and other Web API methods' })),
    webhookUrl: Type.Optional(SecretString({ description: 'an incoming-webhook URL (it is a credential)' })),
    baseUrl: Type.String({ pattern: '^https?://', default: 'https://slack.com/api/', description: 'Web API base URL' }),
    timeout: Duration({ default: '10s' }),
    retries: Type.Integer({ minimum: 0, maximum: 10, default: 3, description: 'retries on 429 (after Retry-After) and server errors' }),
    allowPrivateNetworks: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);
export type SlackConfig = Static<typeof SlackConfigSchema>;

export interface SlackApi {
  /** chat.postMessage; resolves with Slack's answer ({ ok, channel, ts, … }). */
  postMessage(args: { channel: string; text?: string; blocks?: unknown[]; thread_ts?: string; [field: string]: unknown }): Promise<Record<string, unknown>>;
  /** Any Web API method, e.g. call('reactions.add', { channel, name, timestamp }). */
  call(method: string, args?: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Posts to the incoming webhook. */
  sendWebhook(payload: { text?: string; blocks?: unknown[]; [field: string]: unknown }): Promise<void>;
}

export default defineConnector({
  type: 'slack',
  description: 'Posts Slack messages through the Web API (bot token) or an incoming webhook.',
  configSchema: SlackConfigSchema,
  check(config) {
    const problems: ConfigProblem[] = [];
    if (!config.token && !config.webhookUrl) problems.push({ path: [], message: 'missing required field "token" or "webhookUrl"' });
    return problems;
  },
  outbound(ctx) {
    const config: SlackConfig = ctx.config;
    const base = config.baseUrl.endsWith('/') ? config.baseUrl : config.baseUrl + '/';
    const timeout = toMilliseconds(config.timeout);
    // Slack's SDKs load with the first call, not with every gateway.
    let client: Promise<WebClient> | undefined;
    let webhook: Promise<IncomingWebhook> | undefined;
    const needClient = () => {
      const token = config.token;
      if (!token) throw new Error(`slack connector "${ctx.name}" has no token; set "token" to call the Web API`);
      return (client ??= import('@slack/web-api').then(({ LogLevel, WebClient }) => {
        const quiet = { debug() {}, info() {}, warn() {}, error() {}, setLevel() {}, getLevel: () => LogLevel.ERROR, setName() {} };
        return new WebClient(token, {
          slackApiUrl: base,
          timeout,
          retryConfig: { retries: config.retries, factor: 2, minTimeout: 200, maxTimeout: 5000 },
          rejectRateLimitedCalls: false,
          agent: createGuardedNodeAgent(base, { allowPrivateNetworks: config.allowPrivateNetworks }),
          logger: quiet,
        });
      }));
    };
    const needWebhook = () => {
      const url = config.webhookUrl;
      if (!url) throw new Error(`slack connector "${ctx.name}" has no webhookUrl`);
      return (webhook ??= import('@slack/webhook').then(({ IncomingWebhook }) => new IncomingWebhook(url, { agent: createGuardedNodeAgent(url, { allowPrivateNetworks: config.allowPrivateNetworks }), timeout })));
    };
    // A client span per call, so a workflow's trace shows its Slack calls.
    const traced = <T>(name: string, work: () => Promise<T>) => inSpan(name, SpanKind.CLIENT, context.active(), { 'switchboard.connector': ctx.name }, work);
    const api: SlackApi = {
      postMessage: (args) => traced('slack chat.postMessage', async () => (await (await needClient()).chat.postMessage(args as ChatPostMessageArguments)) as unknown as Record<string, unknown>),
      call: (method, args = {}) => traced(`slack ${method}`, async () => (await (await needClient()).apiCall(method, args)) as unknown as Record<string, unknown>),
      sendWebhook: (payload) =>
        traced('slack incoming webhook', async () => {
          await (await needWebhook()).send(payload as IncomingWebhookSendArguments);
        }),
    };
    return { api, close: async () => {} };
  },
});
