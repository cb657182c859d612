/** The github connector against a local peer that checks requests as GitHub's REST API documents them. */
import { createVerify, generateKeyPairSync } from 'node:crypto';
import definition, { type GitHubApi } from './index.js';
import { startRecorder, type Recorder } from '../../test/helpers/index.js';
import { connectOutbound, leaks } from '../../test/peers/outbound.js';

describe('github connector', () => {
  let gh: Recorder;
  const TOKEN = 'ghp_testtoken1234567890';
  beforeAll(async () => {
    gh = await startRecorder();
  });
  afterAll(() => gh.close());
  beforeEach(() => {
    gh.requests.length = 0;
  });

  test('creates an issue: POST /repos/{owner}/{repo}/issues with the documented headers', async () => {
    gh.respond = () => ({ status: 201, body: { number: 1347, html_url: 'https://github.com/octo/hello/issues/1347' } });
    const { api } = connectOutbound<GitHubApi>(definition, { baseUrl: gh.url, token: TOKEN });
    expect(await api.createIssue({ owner: 'octo', repo: 'hello', title: 'Found a bug', body: 'Details', labels: ['bug'] })).toMatchObject({ number: 1347 });
    const [req] = gh.requests;
    expect(req).toMatchObject({ method: 'POST', url: '/repos/octo/hello/issues', json: { title: 'Found a bug', body: 'Details', labels: ['bug'] } });
    expect(req!.headers).toMatchObject({ authorization: `Bearer ${TOKEN}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'switchboard' });
  });

  test('comments on an issue and dispatches a workflow', async () => {
    gh.respond = (r) => (r.url.endsWith('/dispatches') ? { status: 204 } : { status: 201, body: { id: 1, html_url: 'x' } });
    const { api } = connectOutbound<GitHubApi>(definition, { baseUrl: gh.url, token: TOKEN });
    await api.createComment({ owner: 'octo', repo: 'hello', issueNumber: 7, body: 'Thanks!' });
    await api.dispatchWorkflow({ owner: 'octo', repo: 'hello', workflow: 'deploy.yml', ref: 'main', inputs: { env: 'prod' } });
    expect(gh.requests.map((r) => [r.method, r.url, r.json])).toEqual([
      ['POST', '/repos/octo/hello/issues/7/comments', { body: 'Thanks!' }],
      ['POST', '/repos/octo/hello/actions/workflows/deploy.yml/dispatches', { ref: 'main', inputs: { env: 'prod' } }],
    ]);
  });

  test('as a GitHub App: a signed JWT is exchanged for an installation token, which is cached', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    gh.respond = (r) => {
      if (r.url === '/app/installations/42/access_tokens') {
        const jwt = String(r.headers.authorization).replace('Bearer ', '');
        const [h, p, s] = jwt.split('.');
        const valid = createVerify('RSA-SHA256').update(`${h}.${p}`).verify(publicKey, Buffer.from(s!, 'base64url'));
        const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
        if (!valid || claims.iss !== '1234' || claims.exp - claims.iat > 600) return { status: 401, body: { message: 'A JSON web token could not be decoded' } };
        return { status: 201, body: { token: 'ghs_installation_token', expires_at: new Date(Date.now() + 3600_000).toISOString() } };
      }
      return r.headers.authorization === 'Bearer ghs_installation_token' ? { status: 201, body: { number: 1, html_url: 'x' } } : { status: 401, body: {} };
    };
    const { api } = connectOutbound<GitHubApi>(definition, { baseUrl: gh.url, app: { appId: 1234, privateKey: pem, installationId: 42 } });
    await api.createIssue({ owner: 'o', repo: 'r', title: 'one' });
    await api.createIssue({ owner: 'o', repo: 'r', title: 'two' });
    expect(gh.requests.map((r) => r.url)).toEqual(['/app/installations/42/access_tokens', '/repos/o/r/issues', '/repos/o/r/issues']);
  });

  test('retries on 429 with Retry-After, and errors never carry the token', async () => {
    let calls = 0;
    gh.respond = () => (++calls === 1 ? { status: 429, body: {}, headers: { 'retry-after': '1' } } : { status: 201, body: { number: 2, html_url: 'x' } });
    const { api } = connectOutbound<GitHubApi>(definition, { baseUrl: gh.url, token: TOKEN });
    expect((await api.createIssue({ owner: 'o', repo: 'r', title: 't' })).number).toBe(2);
    expect(calls).toBe(2);
    gh.respond = () => ({ status: 401, body: { message: 'Bad credentials' } });
    const err = await api.createIssue({ owner: 'o', repo: 'r', title: 't' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 401 });
    expect(leaks(err, TOKEN)).toBe(false);
  });
});
