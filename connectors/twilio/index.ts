/** Twilio, outbound: send SMS through the Messages API (basic auth with the account SID and auth token). */
import { Type, type Static } from '@sinclair/typebox';
import { SecretString } from '../../src/config/schema.js';
import { defineConnector } from '../../src/registry/contract.js';
import { createOutboundAgent } from '../../src/net/outbound.js';
import { createHttpClient } from '../http/index.js';
import { httpClientFields } from '../http/client-config.js';

export const TwilioConfigSchema = Type.Object(
  {
    ...httpClientFields('https://api.twilio.com'),
    accountSid: Type.String({ pattern: '^AC[0-9a-fA-F]{32}$' }),
    authToken: SecretString(),
    from: Type.Optional(Type.String({ minLength: 1, description: 'default sender number' })),
    messagingServiceSid: Type.Optional(Type.String({ pattern: '^MG[0-9a-fA-F]{32}$' })),
  },
  { additionalProperties: false },
);
export type TwilioConfig = Static<typeof TwilioConfigSchema>;

export interface TwilioApi {
  sendSms(args: { to: string; body: string; from?: string; messagingServiceSid?: string; statusCallback?: string }): Promise<{ sid: string; status: string }>;
}

export default defineConnector({
  type: 'twilio',
  description: 'Sends SMS through Twilio.',
  configSchema: TwilioConfigSchema,
  outbound(ctx) {
    const config: TwilioConfig = ctx.config;
    const agent = createOutboundAgent({ allowPrivateNetworks: config.allowPrivateNetworks });
    const client = createHttpClient({ ...config, countOutbound: ctx.countOutbound, auth: { type: 'basic', username: config.accountSid, password: config.authToken } }, agent);
    const api: TwilioApi = {
      async sendSms({ to, body, from, messagingServiceSid, statusCallback }) {
        const form = new URLSearchParams({ To: to, Body: body });
        const sender = from ?? config.from;
        const service = messagingServiceSid ?? config.messagingServiceSid;
        if (service) form.set('MessagingServiceSid', service);
        else if (sender) form.set('From', sender);
        else throw new Error('sendSms needs "from" (here or in the connector config) or a messaging service');
        if (statusCallback) form.set('StatusCallback', statusCallback);
        const res = await client.request<{ sid: string; status: string }>({
          method: 'POST',
          path: `/2010-04-01/Accounts/${config.accountSid}/Messages.json`,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: form.toString(),
        });
        return { sid: res.data.sid, status: res.data.status };
      },
    };
    return { api, close: () => agent.close() };
  },
});
