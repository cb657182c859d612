/** The sendgrid connector against a local peer checking the v3 Mail Send request as SendGrid documents it. */
import definition, { type SendGridApi } from './index.js';
import { startRecorder, type Recorder } from '../../test/helpers/index.js';
import { connectOutbound, leaks } from '../../test/peers/outbound.js';

const KEY = 'SG.test-api-key-secret';

describe('sendgrid connector', () => {
  let sg: Recorder;
  beforeAll(async () => {
    sg = await startRecorder();
  });
  afterAll(() => sg.close());

  test('sends mail: POST /v3/mail/send with personalizations, from, subject, content; bearer key; 202; 429 retried', async () => {
    let calls = 0;
    sg.respond = () => (++calls === 1 ? { status: 429, body: {}, headers: { 'retry-after': '1' } as Record<string, string> } : { status: 202, headers: { 'x-message-id': 'msg-1' } as Record<string, string> });
    const { api } = connectOutbound<SendGridApi>(definition, { baseUrl: sg.url, apiKey: KEY, from: 'billing@example.com' });
    expect(await api.sendMail({ to: ['ada@example.com'], subject: 'Receipt', text: 'Thanks', html: '<b>Thanks</b>' })).toEqual({ messageId: 'msg-1' });
    const req = sg.requests.at(-1)!;
    expect(req).toMatchObject({ method: 'POST', url: '/v3/mail/send' });
    expect(req.headers).toMatchObject({ authorization: `Bearer ${KEY}`, 'content-type': 'application/json' });
    expect(req.json).toEqual({
      personalizations: [{ to: [{ email: 'ada@example.com' }] }],
      from: { email: 'billing@example.com' },
      subject: 'Receipt',
      content: [
        { type: 'text/plain', value: 'Thanks' },
        { type: 'text/html', value: '<b>Thanks</b>' },
      ],
    });
    expect(calls).toBe(2);
  });

  test('errors never carry the API key', async () => {
    sg.respond = () => ({ status: 403, body: { errors: [{ message: 'forbidden' }] } });
    const { api } = connectOutbound<SendGridApi>(definition, { baseUrl: sg.url, apiKey: KEY, from: 'a@b.c' });
    const err = await api.sendMail({ to: 'x@y.z', subject: 's', text: 't' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 403 });
    expect(leaks(err, KEY)).toBe(false);
  });
});
