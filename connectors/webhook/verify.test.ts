/**
 * Every verification scheme: published vectors from the providers' own documentation, cross-checks
 * with the providers' official SDKs where they exist, derived fixtures elsewhere, and the negative cases.
 */
import { createHmac, generateKeyPairSync, sign as edSign } from 'node:crypto';
import Stripe from 'stripe';
import twilio from 'twilio';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { verifyKey as discordVerifyKey } from 'discord-interactions';
import type { InboundHttpRequest } from '../../src/registry/contract.js';
import { HttpError } from '../../src/gateway/http-error.js';
import { createVerifier, HMAC_SCHEMES, hmacSpecOf } from './providers.js';
import type { WebhookConfig } from './schema.js';
import { signRequest } from './sign.js';

function request(body: string | Buffer, headers: Record<string, string>, url = '/hooks/x'): InboundHttpRequest {
  return { method: 'POST', path: url.split('?')[0]!, url, headers, query: {}, rawBody: Buffer.isBuffer(body) ? body : Buffer.from(body), ip: '127.0.0.1' };
}

const config = (c: Partial<WebhookConfig>): WebhookConfig => ({ event: { idFallback: 'body-hash' }, ...c }) as WebhookConfig;

function rejection(verify: () => void): string {
  try {
    verify();
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(401);
    return (err as Error).message;
  }
  throw new Error('expected a 401');
}

describe('published vectors', () => {
  test('GitHub: the example of "Validating webhook deliveries" (docs.github.com)', () => {
    const verify = createVerifier(config({ provider: 'github', secret: "It's a Secret to Everybody" }));
    verify(request('Hello, World!', { 'x-hub-signature-256': 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17' }));
    expect(rejection(() => verify(request('Hello, World?', { 'x-hub-signature-256': 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17' })))).toBe(
      'signature in x-hub-signature-256 does not match',
    );
  });

  test('Slack: the example of "Verifying requests from Slack" (api.slack.com)', () => {
    const body =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    const headers = { 'x-slack-request-timestamp': '1531420618', 'x-slack-signature': 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503' };
    const verify = createVerifier(config({ provider: 'slack', secret: '8f742231b10e8888abcd99yyyzzz85a5' }));
    verify(request(body, headers), 1531420618_000 + 1000);
    expect(rejection(() => verify(request(body, headers), Date.now()))).toBe('signature timestamp is outside the tolerance of 300 s');
  });

  test('Standard Webhooks: the example of the specification (standardwebhooks.com), and the official library agrees', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const body = '{"test": 2432232314}';
    const headers = { 'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek', 'webhook-timestamp': '1614265330', 'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' };
    createVerifier(config({ provider: 'standard-webhooks', secret }))(request(body, headers), 1614265330_000);
    const official = new StandardWebhook(secret).sign('msg_p5jXN8AQM9LWM0D4loKWxJek', new Date(1614265330_000), body);
    expect(official).toBe(headers['webhook-signature']);
  });

  test('Twilio: the example of "Webhooks security" (twilio.com/docs), and the official library agrees', () => {
    const params = { CallSid: 'CA1234567890ABCDE', Caller: '+12349013030', Digits: '1234', From: '+12349013030', To: '+18005551212' };
    const body = new URLSearchParams(params).toString();
    const signature = '0/KCTR6DLpKmkAf8muzZqo1nDgQ=';
    expect(twilio.validateRequest('12345', signature, 'https://mycompany.com/myapp.php?foo=1&bar=2', params)).toBe(true);
    const verify = createVerifier(config({ provider: 'twilio', secret: '12345', publicUrl: 'https://mycompany.com/myapp.php' }));
    verify(request(body, { 'x-twilio-signature': signature, 'content-type': 'application/x-www-form-urlencoded' }, '/hooks/twilio?foo=1&bar=2'));
    expect(rejection(() => verify(request(body, { 'x-twilio-signature': signature }, '/hooks/twilio?foo=1&bar=3')))).toMatch(/do(es)? not match/);
  });
});

describe('official SDK cross-checks', () => {
  const stripe = new Stripe('sk_test_unused');
  const secret = 'whsec_test_stripe_secret';
  const payload = JSON.stringify({ id: 'evt_1', type: 'invoice.paid' });

  test('Stripe: a header made by stripe.webhooks.generateTestHeaderString is accepted, and ours by constructEvent', () => {
    const now = Math.floor(Date.now() / 1000);
    const header = stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: now });
    createVerifier(config({ provider: 'stripe', secret }))(request(payload, { 'stripe-signature': header }));
    const ours = signRequest(config({ provider: 'stripe', secret }), { body: Buffer.from(payload), contentType: 'application/json', url: '/hooks/stripe', publicBaseUrl: 'http://x' });
    expect(stripe.webhooks.constructEvent(payload, ours['stripe-signature']!, secret).id).toBe('evt_1');
  });

  test('Discord: a signature the official discord-interactions library accepts is accepted', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const publicHex = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('hex');
    const body = JSON.stringify({ type: 1 });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = edSign(null, Buffer.from(timestamp + body), privateKey).toString('hex');
    expect(await discordVerifyKey(body, signature, timestamp, publicHex)).toBe(true);
    const verify = createVerifier(config({ provider: 'discord', publicKey: publicHex }));
    verify(request(body, { 'x-signature-ed25519': signature, 'x-signature-timestamp': timestamp }));
    expect(rejection(() => verify(request(body + ' ', { 'x-signature-ed25519': signature, 'x-signature-timestamp': timestamp })))).toBe('x-signature-ed25519 does not match');
    expect(rejection(() => verify(request(body, { 'x-signature-timestamp': timestamp })))).toMatch(/^missing/);
  });
});

/** Each scheme as a sender signs it, for the negative cases that apply to all of them. */
const NOW = 1_790_000_000_000;
// Token schemes (gitlab, bearer, basic) authenticate the sender but do not sign the body.
const SIGNED: { name: string; config: (secret: string) => WebhookConfig; timestamped: boolean; signsBody?: false }[] = [
  { name: 'github', config: (s) => config({ provider: 'github', secret: s }), timestamped: false },
  { name: 'meta', config: (s) => config({ provider: 'meta', secret: s, verifyToken: 'vt' }), timestamped: false },
  { name: 'stripe', config: (s) => config({ provider: 'stripe', secret: s }), timestamped: true },
  { name: 'slack', config: (s) => config({ provider: 'slack', secret: s }), timestamped: true },
  { name: 'zoom', config: (s) => config({ provider: 'zoom', secret: s }), timestamped: true },
  { name: 'shopify', config: (s) => config({ provider: 'shopify', secret: s }), timestamped: false },
  { name: 'twilio', config: (s) => config({ provider: 'twilio', secret: s, publicUrl: 'https://hooks.example.com/hooks/x' }), timestamped: false },
  { name: 'standard-webhooks', config: (s) => config({ provider: 'standard-webhooks', secret: 'whsec_' + Buffer.from(s).toString('base64') }), timestamped: true },
  { name: 'gitlab', signsBody: false, config: (s) => config({ provider: 'gitlab', secret: s }), timestamped: false },
  { name: 'bearer', signsBody: false, config: (s) => config({ verify: { scheme: 'bearer' }, secret: s }), timestamped: false },
  { name: 'basic', signsBody: false, config: (s) => config({ verify: { scheme: 'basic' }, username: 'hooks', secret: s }), timestamped: false },
  {
    name: 'hmac (sha512, base64, prefixed, timestamped)',
    config: (s) =>
      config({ verify: { scheme: 'hmac', header: 'X-Sig', algorithm: 'sha512', encoding: 'base64', prefix: 'v1=', signedPayload: '{timestamp}:{body}', timestampHeader: 'X-Ts', tolerance: '2m' }, secret: s }),
    timestamped: true,
  },
];

describe.each(SIGNED)('$name', ({ config: make, timestamped, signsBody }) => {
  const body = JSON.stringify({ id: 'evt_77', type: 'thing.happened', amount: 1.5 });
  const sign = (secret: string, opts: { now?: number; body?: string } = {}) =>
    signRequest(make(secret), { body: Buffer.from(opts.body ?? body), contentType: 'application/json', url: '/hooks/x', publicBaseUrl: 'https://hooks.example.com', nowMs: opts.now ?? NOW });
  const verifyWith = (secret: string | string[]) => {
    const c = make(Array.isArray(secret) ? secret[0]! : secret);
    if (Array.isArray(secret)) {
      const rotated = secret.map((s) => (make(s) as { secret: string }).secret);
      delete c.secret;
      c.secrets = rotated;
    }
    return createVerifier(c);
  };

  test('accepts the right signature', () => {
    verifyWith('right-secret-1')(request(body, sign('right-secret-1')), NOW);
  });
  test('rejects a wrong secret', () => {
    expect(rejection(() => verifyWith('right-secret-1')(request(body, sign('wrong-secret-2')), NOW))).toMatch(/do(es)? not match/);
  });
  if (signsBody !== false) test('rejects a tampered body', () => {
    expect(rejection(() => verifyWith('right-secret-1')(request(body.replace('1.5', '150'), sign('right-secret-1')), NOW))).toMatch(/do(es)? not match/);
  });
  test('rejects a request without the signature header', () => {
    const headers = sign('right-secret-1');
    for (const name of ['x-hub-signature-256', 'stripe-signature', 'x-slack-signature', 'x-zm-signature', 'x-shopify-hmac-sha256', 'x-twilio-signature', 'webhook-signature', 'x-gitlab-token', 'authorization', 'x-sig']) delete headers[name];
    expect(rejection(() => verifyWith('right-secret-1')(request(body, headers), NOW))).toMatch(/^missing|no .* signature/);
  });
  test('accepts either secret while rotating', () => {
    const verify = verifyWith(['old-secret-a', 'new-secret-b']);
    verify(request(body, sign('old-secret-a')), NOW);
    verify(request(body, sign('new-secret-b')), NOW);
    expect(rejection(() => verify(request(body, sign('other-secret-c')), NOW))).toMatch(/do(es)? not match/);
  });
  if (timestamped) test('rejects a timestamp just outside the tolerance, on each side, and accepts one just inside', () => {
    const c = make('right-secret-1');
    const tolerance = c.verify?.tolerance === '2m' ? 120_000 : 300_000;
    const verify = createVerifier(c);
    verify(request(body, sign('right-secret-1', { now: NOW - tolerance + 1000 })), NOW);
    verify(request(body, sign('right-secret-1', { now: NOW + tolerance - 1000 })), NOW);
    expect(rejection(() => verify(request(body, sign('right-secret-1', { now: NOW - tolerance - 1000 })), NOW))).toMatch(/outside the tolerance/);
    expect(rejection(() => verify(request(body, sign('right-secret-1', { now: NOW + tolerance + 1000 })), NOW))).toMatch(/outside the tolerance/);
  });
});

describe('several signatures in one header', () => {
  test('Stripe: any matching v1 is accepted (Stripe sends one per active secret)', () => {
    const secret = 'whsec_multi';
    const t = String(Math.floor(NOW / 1000));
    const good = createHmac('sha256', secret).update(`${t}.{}`).digest('hex');
    const verify = createVerifier(config({ provider: 'stripe', secret }));
    verify(request('{}', { 'stripe-signature': `t=${t},v1=${'0'.repeat(64)},v1=${good},v0=ignored` }), NOW);
    expect(rejection(() => verify(request('{}', { 'stripe-signature': `t=${t},v0=${good}` }), NOW))).toBe('no v1 signature in stripe-signature');
  });

  test('Standard Webhooks: space-separated signatures, one right; v1a Ed25519 with a whpk_ key', () => {
    const secret = 'whsec_' + Buffer.from('k'.repeat(24)).toString('base64');
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(NOW / 1000)) };
    const good = new StandardWebhook(secret).sign('msg_1', new Date(NOW), '{}');
    createVerifier(config({ provider: 'standard-webhooks', secret }))(request('{}', { ...headers, 'webhook-signature': `v1,AAAA ${good} v2,zzz` }), NOW);

    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const whpk = 'whpk_' + Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64');
    const v1a = edSign(null, Buffer.from(`msg_1.${headers['webhook-timestamp']}.{}`), privateKey).toString('base64');
    const verify = createVerifier(config({ provider: 'standard-webhooks', secrets: [secret, whpk] }));
    verify(request('{}', { ...headers, 'webhook-signature': `v1a,${v1a}` }), NOW);
    expect(rejection(() => verify(request('{"x":1}', { ...headers, 'webhook-signature': `v1a,${v1a}` }), NOW))).toMatch(/do(es)? not match/);
  });
});

describe('token schemes', () => {
  test('Microsoft Graph: every notification must carry the clientState', () => {
    const verify = createVerifier(config({ provider: 'msgraph', secret: 'state-123' }));
    verify(request(JSON.stringify({ value: [{ clientState: 'state-123' }, { clientState: 'state-123' }] }), {}));
    expect(rejection(() => verify(request(JSON.stringify({ value: [{ clientState: 'state-123' }, { clientState: 'nope' }] }), {})))).toBe('clientState does not match');
  });
});

describe('the generic hmac scheme expresses every HMAC-based preset', () => {
  test.each(Object.keys(HMAC_SCHEMES))('%s', (name) => {
    const preset = HMAC_SCHEMES[name as keyof typeof HMAC_SCHEMES]!;
    const generic = config({
      secret: 'shared',
      publicUrl: 'https://hooks.example.com/hooks/x',
      verify: {
        scheme: 'hmac',
        header: preset.header,
        algorithm: preset.algorithm,
        encoding: preset.encoding,
        format: preset.format,
        prefix: preset.prefix,
        pairKey: preset.pairKey,
        ...(preset.pairTimestampKey ? { timestampKey: preset.pairTimestampKey } : {}),
        version: preset.listVersion,
        signedPayload: preset.signedPayload,
        ...(preset.timestampHeader ? { timestampHeader: preset.timestampHeader } : {}),
        ...(preset.idHeader ? { idHeader: preset.idHeader } : {}),
        tolerance: preset.toleranceMs,
        secretEncoding: preset.secretEncoding,
        secretPrefix: preset.secretPrefix,
      },
    });
    expect(hmacSpecOf(generic)).toEqual({ ...preset, publicUrl: 'https://hooks.example.com/hooks/x' });
  });
});
