/** SendGrid, outbound: send mail through the v3 Mail Send API (bearer API key). */
import { Type, type Static } from '@sinclair/typebox';
import { SecretString } from '../../src/config/schema.js';
import { defineConnector } from '../../src/registry/contract.js';
import { createOutboundAgent } from '../../src/net/outbound.js';
import { createHttpClient } from '../http/index.js';
import { httpClientFields } from '../http/client-config.js';

export const SendGridConfigSchema = Type.Object(
  {
    ...httpClientFields('https://api.sendgrid.com'),
    apiKey: SecretString(),
    from: Type.Optional(Type.String({ minLength: 3, description: 'default sender address' })),
  },
  { additionalProperties: false },
);
export type SendGridConfig = Static<typeof SendGridConfigSchema>;

export interface SendGridApi {
  sendMail(args: { to: string | string[]; subject: string; text?: string; html?: string; from?: string; replyTo?: string }): Promise<{ messageId: string | undefined }>;
}

export default defineConnector({
  type: 'sendgrid',
  description: 'Sends mail through SendGrid.',
  configSchema: SendGridConfigSchema,
  outbound(ctx) {
    const config: SendGridConfig = ctx.config;
    const agent = createOutboundAgent({ allowPrivateNetworks: config.allowPrivateNetworks });
    const client = createHttpClient({ ...config, countOutbound: ctx.countOutbound, auth: { type: 'bearer', token: config.apiKey } }, agent);
    const api: SendGridApi = {
      async sendMail({ to, subject, text, html, from, replyTo }) {
        const sender = from ?? config.from;
        if (!sender) throw new Error('sendMail needs "from" (here or in the connector config)');
        if (!text && !html) throw new Error('sendMail needs "text" or "html"');
        const content = [...(text ? [{ type: 'text/plain', value: text }] : []), ...(html ? [{ type: 'text/html', value: html }] : [])];
        const res = await client.request({
          method: 'POST',
          path: '/v3/mail/send',
          json: {
            personalizations: [{ to: (Array.isArray(to) ? to : [to]).map((email) => ({ email })) }],
            from: { email: sender },
            ...(replyTo ? { reply_to: { email: replyTo } } : {}),
            subject,
            content,
          },
        });
        return { messageId: res.headers['x-message-id'] };
      },
    };
    return { api, close: () => agent.close() };
  },
});
