import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';

const secret = readFileSync(new URL('../secrets/chat-token', import.meta.url), 'utf8').trim();

/** Posts the summary to the chat API through the `team-chat` HTTP connector. */
export default async function notify(event, ctx) {
  const body = JSON.stringify({ text: event.data.text, idempotencyKey: ctx.idempotencyKey });
  const signature = createHmac('sha256', secret).update(body).digest('hex');
  const response = await ctx.connectors['team-chat'].request({
    method: 'POST',
    path: '/hooks/chat',
    headers: { 'content-type': 'application/json', 'x-chat-signature': signature },
    body,
  });
  ctx.log.info({ status: response.status }, 'posted to chat');
  return { delivered: true };
}
