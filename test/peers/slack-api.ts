/**
 * A local stand-in for Slack's Web API that checks each request as Slack documents it
 * (POST /api/<method>, bot token in `Authorization: Bearer`, arguments as form or JSON fields)
 * and answers like Slack, including 429 with Retry-After when told to.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

interface SlackCall { path: string; auth: string | undefined; contentType: string | undefined; fields: Record<string, unknown> }

export async function startSlackApi(token: string) {
  const calls: SlackCall[] = [];
  let rateLimitNext = 0;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const contentType = req.headers['content-type'];
      const fields: Record<string, unknown> = contentType?.startsWith('application/json') ? JSON.parse(raw || '{}') : Object.fromEntries(new URLSearchParams(raw));
      calls.push({ path: req.url!, auth: req.headers.authorization, contentType, fields });
      const reply = (status: number, body: object, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
        res.end(JSON.stringify(body));
      };
      if (req.method !== 'POST') return reply(405, { ok: false, error: 'method_not_allowed' });
      if (req.url === '/hooks/incoming') return fields.text ? (res.writeHead(200), res.end('ok')) : reply(400, { ok: false, error: 'no_text' });
      if (req.headers.authorization !== `Bearer ${token}`) return reply(200, { ok: false, error: 'not_authed' });
      if (rateLimitNext > 0) {
        rateLimitNext--;
        return reply(429, { ok: false, error: 'ratelimited' }, { 'retry-after': '1' });
      }
      if (req.url === '/api/chat.postMessage') {
        if (!fields.channel) return reply(200, { ok: false, error: 'channel_not_found' });
        if (!fields.text && !fields.blocks) return reply(200, { ok: false, error: 'no_text' });
        return reply(200, { ok: true, channel: fields.channel, ts: '1503435956.000247', message: { text: fields.text } });
      }
      return reply(200, { ok: false, error: 'unknown_method' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    rateLimit(times: number) {
      rateLimitNext = times;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

