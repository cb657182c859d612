/**
 * GitHub, outbound: create issues and comments, dispatch workflows, or call any REST endpoint.
 * Token auth, or GitHub App auth: a JWT signed with the app's private key is exchanged for an
 * installation token, cached until shortly before it expires.
 */
import { createSign } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { SecretString } from '../../src/config/schema.js';
import { defineConnector, type ConfigProblem } from '../../src/registry/contract.js';
import { createOutboundAgent } from '../../src/net/outbound.js';
import { createHttpClient, type HttpApi, type HttpRequestOptions, type HttpResponse } from '../http/index.js';
import { httpClientFields } from '../http/client-config.js';

export const GitHubConfigSchema = Type.Object(
  {
    ...httpClientFields('https://api.github.com'),
    token: Type.Optional(SecretString({ description: 'a personal access or fine-grained token' })),
    app: Type.Optional(
      Type.Object(
        {
          appId: Type.Union([Type.Integer(), Type.String({ minLength: 1 })]),
          privateKey: SecretString({ description: 'the app private key (PEM)' }),
          installationId: Type.Integer(),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type GitHubConfig = Static<typeof GitHubConfigSchema>;

const base64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');

/** The app JWT GitHub documents: RS256, issued 60 s in the past (clock drift), valid 9 minutes. */
export function appJwt(appId: string | number, privateKeyPem: string, nowMs = Date.now()): string {
  const now = Math.floor(nowMs / 1000);
  const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const payload = base64url(JSON.stringify({ iat: now - 60, exp: now + 540, iss: String(appId) }));
  const signature = createSign('RSA-SHA256').update(`${header}.${payload}`).sign(privateKeyPem);
  return `${header}.${payload}.${base64url(signature)}`;
}

export interface GitHubApi {
  createIssue(args: { owner: string; repo: string; title: string; body?: string; labels?: string[]; assignees?: string[] }): Promise<{ number: number; html_url: string }>;
  createComment(args: { owner: string; repo: string; issueNumber: number; body: string }): Promise<{ id: number; html_url: string }>;
  dispatchWorkflow(args: { owner: string; repo: string; workflow: string | number; ref: string; inputs?: Record<string, string> }): Promise<void>;
  request<T = unknown>(options: HttpRequestOptions): Promise<HttpResponse<T>>;
}

const seg = (value: string | number) => encodeURIComponent(String(value));

export default defineConnector({
  type: 'github',
  description: 'Calls the GitHub REST API with a token or as a GitHub App installation.',
  configSchema: GitHubConfigSchema,
  check(config) {
    const problems: ConfigProblem[] = [];
    if (!config.token && !config.app) problems.push({ path: [], message: 'missing required field "token" or "app"' });
    if (config.token && config.app) problems.push({ path: [], message: 'set "token" or "app", not both' });
    return problems;
  },
  outbound(ctx) {
    const config: GitHubConfig = ctx.config;
    const agent = createOutboundAgent({ allowPrivateNetworks: config.allowPrivateNetworks });
    const client: HttpApi = createHttpClient(
      { ...config, countOutbound: ctx.countOutbound, headers: { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'switchboard' } },
      agent,
    );
    let installation: { token: string; expiresAt: number } | undefined;
    const authorization = async (): Promise<string> => {
      if (config.token) return `Bearer ${config.token}`;
      const app = config.app!;
      if (!installation || installation.expiresAt - 60_000 < Date.now()) {
        const res = await client.request<{ token: string; expires_at: string }>({
          method: 'POST',
          path: `/app/installations/${app.installationId}/access_tokens`,
          headers: { authorization: `Bearer ${appJwt(app.appId, app.privateKey)}` },
        });
        installation = { token: res.data.token, expiresAt: Date.parse(res.data.expires_at) };
      }
      return `Bearer ${installation.token}`;
    };
    const request = async <T>(options: HttpRequestOptions) => client.request<T>({ ...options, headers: { ...options.headers, authorization: await authorization() } });
    const api: GitHubApi = {
      request,
      async createIssue({ owner, repo, ...issue }) {
        return (await request<{ number: number; html_url: string }>({ method: 'POST', path: `/repos/${seg(owner)}/${seg(repo)}/issues`, json: issue })).data;
      },
      async createComment({ owner, repo, issueNumber, body }) {
        return (await request<{ id: number; html_url: string }>({ method: 'POST', path: `/repos/${seg(owner)}/${seg(repo)}/issues/${issueNumber}/comments`, json: { body } })).data;
      },
      async dispatchWorkflow({ owner, repo, workflow, ref, inputs }) {
        await request({ method: 'POST', path: `/repos/${seg(owner)}/${seg(repo)}/actions/workflows/${seg(workflow)}/dispatches`, json: { ref, ...(inputs ? { inputs } : {}) } });
      },
    };
    return { api, close: () => agent.close() };
  },
});
