/**
 * Provider presets: for each known sender, its verification scheme, its handshake, its delivery id
 * (the dedup key) and a CloudEvent mapping. HMAC-based schemes are written in the generic HmacSpec.
 */
import { createHmac } from 'node:crypto';
import { toMilliseconds } from '../../src/config/units.js';
import type { InboundHttpRequest, InboundHttpResponse } from '../../src/registry/contract.js';
import type { Provider, Scheme, WebhookConfig } from './schema.js';
import {
  basicVerifier,
  bearerVerifier,
  clientStateVerifier,
  constantTimeEqual,
  discordVerifier,
  HMAC_DEFAULTS,
  hmacVerifier,
  standardWebhooksVerifier,
  STANDARD_WEBHOOKS,
  tokenVerifier,
  type HmacSpec,
  type Verifier,
} from './verify.js';

const FIVE_MINUTES = 5 * 60_000;

/** The HMAC-based schemes, each expressed in the generic spec (`scheme: hmac` can say the same). */
export const HMAC_SCHEMES: Partial<Record<Scheme, HmacSpec>> = {
  github: { ...HMAC_DEFAULTS, header: 'x-hub-signature-256', prefix: 'sha256=' },
  meta: { ...HMAC_DEFAULTS, header: 'x-hub-signature-256', prefix: 'sha256=' },
  stripe: { ...HMAC_DEFAULTS, header: 'stripe-signature', format: 'pairs', pairKey: 'v1', pairTimestampKey: 't', signedPayload: '{timestamp}.{body}', toleranceMs: 300_000 },
  slack: { ...HMAC_DEFAULTS, header: 'x-slack-signature', prefix: 'v0=', signedPayload: 'v0:{timestamp}:{body}', timestampHeader: 'x-slack-request-timestamp', toleranceMs: FIVE_MINUTES },
  zoom: { ...HMAC_DEFAULTS, header: 'x-zm-signature', prefix: 'v0=', signedPayload: 'v0:{timestamp}:{body}', timestampHeader: 'x-zm-request-timestamp', toleranceMs: FIVE_MINUTES },
  shopify: { ...HMAC_DEFAULTS, header: 'x-shopify-hmac-sha256', encoding: 'base64' },
  twilio: { ...HMAC_DEFAULTS, header: 'x-twilio-signature', algorithm: 'sha1', encoding: 'base64', signedPayload: '{url}{params}' },
  'standard-webhooks': STANDARD_WEBHOOKS,
};

export function secretsOf(config: WebhookConfig): string[] {
  return [...(config.secret ? [config.secret] : []), ...(config.secrets ?? [])];
}

export function schemeOf(config: WebhookConfig): Scheme | undefined {
  return config.verify?.scheme ?? config.provider;
}

/** The HmacSpec a config describes: a preset's, with the config's own fields laid over it. */
export function hmacSpecOf(config: WebhookConfig): HmacSpec | undefined {
  const scheme = schemeOf(config);
  if (!scheme) return undefined;
  const base = scheme === 'hmac' ? { ...HMAC_DEFAULTS, header: '' } : HMAC_SCHEMES[scheme];
  if (!base) return undefined;
  const v = config.verify ?? { scheme };
  return {
    ...base,
    ...(v.header ? { header: v.header.toLowerCase() } : {}),
    ...(v.algorithm ? { algorithm: v.algorithm } : {}),
    ...(v.encoding ? { encoding: v.encoding } : {}),
    ...(v.format ? { format: v.format } : {}),
    ...(v.prefix !== undefined ? { prefix: v.prefix } : {}),
    ...(v.pairKey ? { pairKey: v.pairKey } : {}),
    ...(v.timestampKey ? { pairTimestampKey: v.timestampKey } : {}),
    ...(v.version ? { listVersion: v.version } : {}),
    ...(v.signedPayload ? { signedPayload: v.signedPayload } : {}),
    ...(v.timestampHeader ? { timestampHeader: v.timestampHeader.toLowerCase() } : {}),
    ...(v.idHeader ? { idHeader: v.idHeader.toLowerCase() } : {}),
    ...(v.tolerance !== undefined ? { toleranceMs: toMilliseconds(v.tolerance) } : {}),
    ...(v.secretEncoding ? { secretEncoding: v.secretEncoding } : {}),
    ...(v.secretPrefix !== undefined ? { secretPrefix: v.secretPrefix } : {}),
    ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
  };
}

export function createVerifier(config: WebhookConfig): Verifier {
  const scheme = schemeOf(config);
  const secrets = secretsOf(config);
  const tolerance = config.verify?.tolerance !== undefined ? toMilliseconds(config.verify.tolerance) : undefined;
  switch (scheme) {
    case 'none':
      return () => {};
    case 'gitlab':
      return tokenVerifier('x-gitlab-token', secrets);
    case 'bearer':
      return bearerVerifier(secrets);
    case 'basic':
      return basicVerifier(config.username!, secrets);
    case 'discord':
      return discordVerifier([config.publicKey!]);
    case 'msgraph':
      return clientStateVerifier(secrets);
    case 'standard-webhooks':
      return standardWebhooksVerifier(secrets, tolerance);
    case undefined:
      throw new Error('a webhook connector needs `provider` or `verify`');
    default:
      return hmacVerifier(hmacSpecOf(config)!, secrets);
  }
}

export interface MappedAttributes {
  type?: string;
  source?: string;
  subject?: string;
  /** The provider's delivery or event id: the dedup key. */
  id?: string;
  time?: string;
}

export interface Scope {
  headers: Record<string, string | string[] | undefined>;
  body: any;
  query: Record<string, string | string[] | undefined>;
}

export interface Preset {
  /** Answered after verification, instead of creating an event (URL verification, PING). */
  handshake?(scope: Scope, config: WebhookConfig): InboundHttpResponse | undefined;
  /** Answered before verification: handshakes the provider sends unsigned. */
  unsignedHandshake?(request: InboundHttpRequest, config: WebhookConfig): InboundHttpResponse | undefined;
  /** Also listen for GET on the path (Meta's subscription check). */
  get?: boolean;
  map(scope: Scope): MappedAttributes;
  /** The answer a sender expects once the event is on the bus; 202 JSON otherwise. */
  accepted?(scope: Scope, eventId: string): InboundHttpResponse;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : undefined);
const hdr = (scope: Scope, name: string) => str(Array.isArray(scope.headers[name]) ? scope.headers[name]![0] : scope.headers[name]);
const unixTime = (seconds: unknown) => (typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : undefined);

const DISCORD_INTERACTIONS: Record<number, string> = { 2: 'application_command', 3: 'message_component', 4: 'autocomplete', 5: 'modal_submit' };
// The response Discord needs within 3 s: defer, so the function can follow up through the interaction webhook.
const DISCORD_DEFERRALS: Record<number, object> = { 2: { type: 5 }, 3: { type: 6 }, 4: { type: 8, data: { choices: [] } }, 5: { type: 5 } };

export const PRESETS: Record<Provider, Preset> = {
  github: {
    map: (s) => ({
      type: hdr(s, 'x-github-event') && `com.github.${hdr(s, 'x-github-event')}${str(s.body?.action) ? `.${s.body.action}` : ''}`,
      source: str(s.body?.repository?.html_url) ?? (str(s.body?.organization?.login) ? `https://github.com/${s.body.organization.login}` : 'https://github.com'),
      subject: str(s.body?.ref),
      id: hdr(s, 'x-github-delivery'),
    }),
  },
  stripe: {
    map: (s) => ({
      type: str(s.body?.type) && `com.stripe.${s.body.type}`,
      source: str(s.body?.account) ? `https://stripe.com/accounts/${s.body.account}` : 'https://stripe.com',
      subject: str(s.body?.data?.object?.id),
      id: str(s.body?.id),
      time: unixTime(s.body?.created),
    }),
  },
  slack: {
    handshake: (s) => (s.body?.type === 'url_verification' ? { status: 200, body: { challenge: s.body.challenge } } : undefined),
    map: (s) => {
      if (typeof s.body?.payload === 'string') {
        let payload: any;
        try {
          payload = JSON.parse(s.body.payload);
        } catch {
          payload = {};
        }
        return { type: `com.slack.interaction.${str(payload?.type) ?? 'unknown'}`, source: `https://slack.com/team/${str(payload?.team?.id) ?? ''}`, id: str(payload?.trigger_id) };
      }
      if (str(s.body?.command)) {
        return { type: 'com.slack.command', source: `https://slack.com/team/${str(s.body.team_id) ?? ''}`, subject: s.body.command, id: str(s.body.trigger_id) };
      }
      return {
        type: `com.slack.event.${str(s.body?.event?.type) ?? str(s.body?.type) ?? 'unknown'}`,
        source: `https://slack.com/team/${str(s.body?.team_id) ?? ''}`,
        subject: str(s.body?.event?.channel),
        // Retries (X-Slack-Retry-Num) carry the same event_id, so they dedup.
        id: str(s.body?.event_id),
        time: unixTime(s.body?.event_time),
      };
    },
  },
  shopify: {
    map: (s) => ({
      type: hdr(s, 'x-shopify-topic') && `com.shopify.${hdr(s, 'x-shopify-topic')!.replace(/\//g, '.')}`,
      source: hdr(s, 'x-shopify-shop-domain') ? `https://${hdr(s, 'x-shopify-shop-domain')}` : 'https://shopify.com',
      subject: str(s.body?.id),
      id: hdr(s, 'x-shopify-webhook-id'),
    }),
  },
  twilio: {
    map: (s) => {
      const b = s.body ?? {};
      const kind = str(b.MessageSid) ? 'message' : str(b.CallSid) ? 'call' : 'event';
      const status = str(b.MessageStatus) ?? str(b.SmsStatus) ?? str(b.CallStatus);
      const sid = str(b.MessageSid) ?? str(b.CallSid);
      return {
        type: `com.twilio.${kind}${status ? `.${status}` : ''}`,
        source: `https://api.twilio.com/2010-04-01/Accounts/${str(b.AccountSid) ?? ''}`,
        subject: sid,
        id: hdr(s, 'i-twilio-idempotency-token') ?? (sid ? `${sid}-${status ?? ''}` : undefined),
      };
    },
    // Twilio reads the answer as TwiML; an empty Response does nothing and logs no warning.
    accepted: (_s, id) => ({ status: 200, headers: { 'content-type': 'text/xml', 'switchboard-event-id': id }, body: '<?xml version="1.0" encoding="UTF-8"?><Response></Response>' }),
  },
  gitlab: {
    map: (s) => ({
      type: `com.gitlab.${str(s.body?.object_kind) ?? (hdr(s, 'x-gitlab-event') ?? 'event').toLowerCase().replace(/ hook$/, '').replace(/\s+/g, '_')}`,
      source: str(s.body?.project?.web_url) ?? 'https://gitlab.com',
      subject: str(s.body?.ref),
      id: hdr(s, 'x-gitlab-event-uuid') ?? hdr(s, 'idempotency-key'),
    }),
  },
  'standard-webhooks': {
    map: (s) => ({ type: str(s.body?.type), id: hdr(s, 'webhook-id'), time: str(s.body?.timestamp) }),
  },
  discord: {
    handshake: (s) => (s.body?.type === 1 ? { status: 200, body: { type: 1 } } : undefined),
    map: (s) => ({
      type: `com.discord.interaction.${DISCORD_INTERACTIONS[s.body?.type as number] ?? 'unknown'}`,
      source: `https://discord.com/applications/${str(s.body?.application_id) ?? ''}`,
      subject: str(s.body?.data?.name) ?? str(s.body?.data?.custom_id),
      id: str(s.body?.id),
    }),
    accepted: (s, id) => ({ status: 200, headers: { 'switchboard-event-id': id }, body: DISCORD_DEFERRALS[s.body?.type as number] ?? { type: 5 } }),
  },
  zoom: {
    handshake: (s, config) => {
      if (s.body?.event !== 'endpoint.url_validation') return undefined;
      const plainToken = String(s.body?.payload?.plainToken ?? '');
      const encryptedToken = createHmac('sha256', secretsOf(config)[0]!).update(plainToken).digest('hex');
      return { status: 200, body: { plainToken, encryptedToken } };
    },
    map: (s) => ({
      type: str(s.body?.event) && `us.zoom.${s.body.event}`,
      source: `https://zoom.us/account/${str(s.body?.payload?.account_id) ?? ''}`,
      subject: str(s.body?.payload?.object?.id),
      time: typeof s.body?.event_ts === 'number' ? new Date(s.body.event_ts).toISOString() : undefined,
    }),
  },
  meta: {
    get: true,
    unsignedHandshake: (request, config) => {
      if (request.method !== 'GET') return undefined;
      const q = request.query;
      const challenge = typeof q['hub.challenge'] === 'string' ? q['hub.challenge'] : '';
      const token = typeof q['hub.verify_token'] === 'string' ? q['hub.verify_token'] : '';
      if (q['hub.mode'] === 'subscribe' && config.verifyToken && constantTimeEqual(token, config.verifyToken)) {
        return { status: 200, headers: { 'content-type': 'text/plain' }, body: challenge };
      }
      return { status: 403, body: { error: 'SWB_ERR_HTTP_SIGNATURE', message: 'hub.verify_token does not match' } };
    },
    map: (s) => ({ type: str(s.body?.object) && `com.meta.${s.body.object}`, source: `https://graph.facebook.com/${str(s.body?.entry?.[0]?.id) ?? ''}` }),
  },
  msgraph: {
    unsignedHandshake: (request) => {
      const token = request.query.validationToken;
      return typeof token === 'string' ? { status: 200, headers: { 'content-type': 'text/plain' }, body: token } : undefined;
    },
    map: (s) => {
      const first = Array.isArray(s.body?.value) ? s.body.value[0] : undefined;
      return {
        type: `com.microsoft.graph.${str(first?.changeType) ?? 'notification'}`,
        source: `https://graph.microsoft.com/${str(first?.resource) ?? ''}`,
        subject: str(first?.subscriptionId),
      };
    },
  },
};
