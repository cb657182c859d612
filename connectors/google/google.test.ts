/**
 * The google connector: the service-account token exchange and Sheets values.append against local
 * peers that check each request as Google documents it, and Firestore against Google's own emulator.
 */
import { createVerify, generateKeyPairSync } from 'node:crypto';
import definition, { type GoogleApi } from './index.js';
import { startRecorder, type Recorder } from '../../test/helpers/index.js';
import { connectOutbound, leaks } from '../../test/peers/outbound.js';
import { emulatorAvailable, startEmulator } from '../../test/peers/gcloud-emulator.js';

describe('google connector: service account and Sheets', () => {
  let peer: Recorder;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  beforeAll(async () => {
    peer = await startRecorder();
  });
  afterAll(() => peer.close());

  test('a signed JWT assertion is exchanged for a token at the overridable token_uri; values.append is sent as documented; 429 is retried', async () => {
    const credentials = JSON.stringify({ type: 'service_account', client_email: 'sb@proj.iam.gserviceaccount.com', private_key: pem, token_uri: `${peer.url}/token`, project_id: 'proj' });
    let appends = 0;
    peer.respond = (r) => {
      if (r.url === '/token') {
        const form = new URLSearchParams(r.body);
        const [h, c, s] = form.get('assertion')!.split('.');
        const claims = JSON.parse(Buffer.from(c!, 'base64url').toString());
        const valid = createVerify('RSA-SHA256').update(`${h}.${c}`).verify(publicKey, Buffer.from(s!, 'base64url'));
        const ok = valid && form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:jwt-bearer' && claims.aud === `${peer.url}/token` && claims.iss === 'sb@proj.iam.gserviceaccount.com' && claims.scope.includes('spreadsheets');
        return ok ? { status: 200, body: { access_token: 'ya29.test-token', expires_in: 3600, token_type: 'Bearer' } } : { status: 400, body: { error: 'invalid_grant' } };
      }
      if (r.headers.authorization !== 'Bearer ya29.test-token') return { status: 401, body: { error: { code: 401 } } };
      if (++appends === 1) return { status: 429, body: { error: { code: 429 } }, headers: { 'retry-after': '1' } };
      return { status: 200, body: { spreadsheetId: 'sheet-1', updates: { updatedRange: 'Log!A2:C2', updatedRows: 1 } } };
    };
    const { api } = connectOutbound<GoogleApi>(definition, { credentials, sheetsUrl: `${peer.url}/`, firestoreUrl: 'https://firestore.googleapis.com/', database: '(default)', scopes: ['https://www.googleapis.com/auth/spreadsheets'], retries: 2 });
    const updates = await api.appendRows({ spreadsheetId: 'sheet-1', range: 'Log!A:C', values: [['2026-11-25', 'in_77', 2500]] });
    expect(updates).toEqual({ updatedRange: 'Log!A2:C2', updatedRows: 1 });
    const appendsSeen = peer.requests.filter((r) => r.url.startsWith('/v4/'));
    expect(appendsSeen).toHaveLength(2);
    expect(appendsSeen[1]).toMatchObject({ method: 'POST', url: '/v4/spreadsheets/sheet-1/values/Log%21A%3AC:append?valueInputOption=USER_ENTERED', json: { values: [['2026-11-25', 'in_77', 2500]] } });
    expect(peer.requests.filter((r) => r.url === '/token')).toHaveLength(1);
  });

  test('errors never carry the private key or the token', async () => {
    peer.respond = () => ({ status: 403, body: { error: { code: 403, message: 'The caller does not have permission' } } });
    const credentials = JSON.stringify({ client_email: 'x@y', private_key: pem, token_uri: `${peer.url}/token` });
    const { api } = connectOutbound<GoogleApi>(definition, { credentials, sheetsUrl: `${peer.url}/`, firestoreUrl: 'https://firestore.googleapis.com/', database: '(default)', scopes: ['s'], retries: 0 });
    const err = await api.appendRows({ spreadsheetId: 's', range: 'A1', values: [[1]] }).catch((e: unknown) => e);
    expect(leaks(err, pem.split('\n')[1]!)).toBe(false);
  });
});

(emulatorAvailable() ? describe : describe.skip)('google connector: Firestore on the emulator', () => {
  let emulator: Awaited<ReturnType<typeof startEmulator>>;
  beforeAll(async () => {
    emulator = await startEmulator('firestore');
  }, 90_000);
  afterAll(() => emulator?.stop());

  test('creates, updates and reads documents', async () => {
    const { api } = connectOutbound<GoogleApi>(definition, { accessToken: 'owner', projectId: 'demo-switchboard', firestoreUrl: `http://${emulator.host}/`, sheetsUrl: 'https://sheets.googleapis.com/', database: '(default)', scopes: ['s'] });
    const created = await api.createDocument({ collection: 'orders', documentId: 'o1', data: { total: 42, paid: false, items: ['a', 'b'], customer: { name: 'Ada' }, ratio: 0.5 } });
    expect(created.name).toBe('projects/demo-switchboard/databases/(default)/documents/orders/o1');
    await api.updateDocument({ path: 'orders/o1', data: { paid: true } });
    expect(await api.getDocument('orders/o1')).toEqual({ total: 42, paid: true, items: ['a', 'b'], customer: { name: 'Ada' }, ratio: 0.5 });
    expect(await api.getDocument('orders/missing')).toBeUndefined();
  }, 30_000);
});
