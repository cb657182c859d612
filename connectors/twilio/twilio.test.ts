/** The twilio connector against a local peer checking the Messages API request as Twilio documents it. */
import definition, { type TwilioApi } from './index.js';
import { startRecorder, type Recorder } from '../../test/helpers/index.js';
import { connectOutbound, leaks } from '../../test/peers/outbound.js';

const SID = 'AC' + 'a'.repeat(32);
const TOKEN = 'twilio-auth-token-secret';

describe('twilio connector', () => {
  let tw: Recorder;
  beforeAll(async () => {
    tw = await startRecorder();
  });
  afterAll(() => tw.close());

  test('sends an SMS: POST /2010-04-01/Accounts/{Sid}/Messages.json, form fields, basic auth', async () => {
    let calls = 0;
    tw.respond = () => (++calls === 1 ? { status: 429, body: { code: 20429 }, headers: { 'retry-after': '1' } } : { status: 201, body: { sid: 'SM123', status: 'queued' } });
    const { api } = connectOutbound<TwilioApi>(definition, { baseUrl: tw.url, accountSid: SID, authToken: TOKEN, from: '+15005550006' });
    expect(await api.sendSms({ to: '+14155552671', body: 'Your order shipped' })).toEqual({ sid: 'SM123', status: 'queued' });
    const req = tw.requests.at(-1)!;
    expect(req).toMatchObject({ method: 'POST', url: `/2010-04-01/Accounts/${SID}/Messages.json` });
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req.headers.authorization).toBe('Basic ' + Buffer.from(`${SID}:${TOKEN}`).toString('base64'));
    expect(Object.fromEntries(new URLSearchParams(req.body))).toEqual({ To: '+14155552671', Body: 'Your order shipped', From: '+15005550006' });
    expect(calls).toBe(2);
  });

  test('errors never carry the auth token', async () => {
    tw.respond = () => ({ status: 401, body: { code: 20003, message: 'Authenticate' } });
    const { api } = connectOutbound<TwilioApi>(definition, { baseUrl: tw.url, accountSid: SID, authToken: TOKEN, from: '+1' });
    const err = await api.sendSms({ to: '+1', body: 'x' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 401 });
    expect(leaks(err, TOKEN)).toBe(false);
  });
});
