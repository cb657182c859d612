/** `switchboard send`: signs a payload with a connector's own scheme and posts it, as the real sender would. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { toWebhookConfig, type CloudEventsConfig } from '../../connectors/cloudevents/index.js';
import type { WebhookConfig } from '../../connectors/webhook/schema.js';
import { signRequest } from '../../connectors/webhook/sign.js';
import type { SwitchboardConfig } from '../config/load.js';

export interface SendOptions {
  connector: string;
  file: string;
  /** Gateway base URL; defaults to http://127.0.0.1:<gateway.port>. */
  url?: string;
  contentType?: string;
  /** Provider event name: GitHub's X-GitHub-Event, Shopify's topic, GitLab's event. */
  event?: string;
}

const CONTENT_TYPES: Record<string, string> = { '.json': 'application/json', '.txt': 'text/plain', '.xml': 'application/xml', '.form': 'application/x-www-form-urlencoded' };

export async function send(config: SwitchboardConfig, options: SendOptions): Promise<{ status: number; body: string }> {
  const spec = config.connectors.find((c) => c.name === options.connector);
  const senders = config.connectors.filter((c) => c.type === 'webhook' || c.type === 'cloudevents').map((c) => c.name);
  if (!spec || !senders.includes(spec.name)) {
    throw new Error(`no webhook or cloudevents connector named "${options.connector}"; known: ${senders.join(', ') || 'none'}`);
  }
  const body = await readFile(options.file);
  const ext = path.extname(options.file).toLowerCase();
  const isCloudEvents = spec.type === 'cloudevents';
  const contentType = options.contentType ?? (isCloudEvents ? 'application/cloudevents+json' : (CONTENT_TYPES[ext] ?? 'application/octet-stream'));
  const webhookConfig = isCloudEvents ? toWebhookConfig(spec.config as CloudEventsConfig) : (spec.config as WebhookConfig);
  const route = (spec.config as { path?: string }).path ?? `/hooks/${spec.name}`;
  const base = (options.url ?? `http://127.0.0.1:${config.gateway.port}`).replace(/\/+$/, '');
  const headers = signRequest(webhookConfig, {
    body,
    contentType,
    url: route,
    publicBaseUrl: base,
    ...(options.event ? { eventName: options.event } : {}),
  });
  const response = await fetch(base + route, { method: 'POST', headers, body });
  return { status: response.status, body: await response.text() };
}
