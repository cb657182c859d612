/**
 * Signs a request the way the connector's sender would, for `switchboard send` (test a function
 * without the real SaaS). Schemes signed with the sender's private key (Discord, Standard Webhooks
 * v1a) cannot be produced from the connector's config.
 */
import { randomUUID } from 'node:crypto';
import type { InboundHttpRequest } from '../../src/registry/contract.js';
import { hmacSign, type HmacSpec } from './verify.js';
import { hmacSpecOf, schemeOf, secretsOf } from './providers.js';
import type { WebhookConfig } from './schema.js';

export interface SendRequest {
  body: Buffer;
  contentType: string;
  /** The path and query the request goes to. */
  url: string;
  /** For {url} in signatures; the connector's publicUrl wins. */
  publicBaseUrl: string;
  nowMs?: number;
  /** Overrides the provider's event name header (GitHub's X-GitHub-Event, Shopify's topic). */
  eventName?: string;
}

/** Headers that carry the signature and the provider's usual metadata. */
export function signRequest(config: WebhookConfig, request: SendRequest): Record<string, string> {
  const scheme = schemeOf(config);
  const secret = secretsOf(config)[0];
  const now = request.nowMs ?? Date.now();
  const timestamp = String(Math.floor(now / 1000));
  const id = `msg_${randomUUID().replace(/-/g, '')}`;
  const headers: Record<string, string> = { 'content-type': request.contentType, ...providerHeaders(config, request.eventName) };
  if (scheme === 'standard-webhooks') Object.assign(headers, { 'webhook-id': id, 'webhook-timestamp': timestamp });
  const inbound: InboundHttpRequest = {
    method: 'POST',
    path: request.url.split('?', 1)[0]!,
    url: request.url,
    headers,
    query: {},
    rawBody: request.body,
    ip: '127.0.0.1',
  };
  switch (scheme) {
    case 'none':
    case 'msgraph':
    case undefined:
      return headers;
    case 'discord':
      throw new Error('discord requests are signed with Discord\'s private key; switchboard send cannot sign them');
    case 'gitlab':
      return { ...headers, 'x-gitlab-token': secret! };
    case 'bearer':
      return { ...headers, authorization: `Bearer ${secret}` };
    case 'basic':
      return { ...headers, authorization: 'Basic ' + Buffer.from(`${config.username}:${secret}`).toString('base64') };
    default: {
      if (scheme === 'standard-webhooks' && secret?.startsWith('whpk_')) {
        throw new Error('a whpk_ key is a public key; switchboard send needs the whsec_ secret to sign');
      }
      const spec: HmacSpec = { ...hmacSpecOf(config)!, publicUrl: config.publicUrl ?? request.publicBaseUrl + inbound.path };
      if (spec.timestampHeader) headers[spec.timestampHeader] = timestamp;
      if (spec.idHeader) headers[spec.idHeader] ??= id;
      headers[spec.header] = hmacSign(spec, secret!, inbound, { timestamp, id: headers[spec.idHeader ?? ''] ?? id });
      return headers;
    }
  }
}

function providerHeaders(config: WebhookConfig, eventName: string | undefined): Record<string, string> {
  switch (config.provider) {
    case 'github':
      return { 'x-github-event': eventName ?? 'ping', 'x-github-delivery': randomUUID() };
    case 'shopify':
      return { 'x-shopify-topic': eventName ?? 'orders/create', 'x-shopify-webhook-id': randomUUID(), 'x-shopify-shop-domain': 'example.myshopify.com' };
    case 'gitlab':
      return { 'x-gitlab-event': eventName ?? 'Push Hook', 'x-gitlab-event-uuid': randomUUID() };
    default:
      return {};
  }
}
