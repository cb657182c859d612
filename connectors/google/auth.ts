/**
 * Google credentials for the google and pubsub connectors: a service-account key exchanged (an RS256
 * JWT assertion, RFC 7523) for an access token at its token_uri — overridable, so tests and private
 * endpoints work — a ready token, or Application Default Credentials (workload identity).
 */
import { createSign } from 'node:crypto';
import type { Agent } from 'undici';
import { createHttpClient } from '../http/index.js';

export interface ServiceAccount {
  client_email: string;
  private_key: string;
  token_uri?: string;
  project_id?: string;
}

export interface GoogleAuthConfig {
  credentials?: string | undefined;
  accessToken?: string | undefined;
  tokenUri?: string | undefined;
  scopes: string[];
  timeout: string | number;
  retries: number;
  /** No Authorization header at all (the Pub/Sub emulator). */
  anonymous?: boolean | undefined;
}

const base64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');

/** The assertion Google's OAuth 2.0 service-account flow documents. */
export function serviceAccountAssertion(account: ServiceAccount, tokenUri: string, scopes: string[], nowMs = Date.now()): string {
  const now = Math.floor(nowMs / 1000);
  const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const claims = base64url(JSON.stringify({ iss: account.client_email, scope: scopes.join(' '), aud: tokenUri, iat: now, exp: now + 3600 }));
  return `${header}.${claims}.${base64url(createSign('RSA-SHA256').update(`${header}.${claims}`).sign(account.private_key))}`;
}

/** Returns a function giving the Authorization header value (undefined when anonymous), tokens cached. */
export function googleAuthorization(config: GoogleAuthConfig, agent: Agent): () => Promise<string | undefined> {
  if (config.anonymous) return async () => undefined;
  if (config.accessToken) return async () => `Bearer ${config.accessToken}`;
  const account = config.credentials ? (JSON.parse(config.credentials) as ServiceAccount) : undefined;
  if (!account) {
    // Loaded on first use, and only without a key.
    const adc = import('google-auth-library').then(({ GoogleAuth }) => new GoogleAuth({ scopes: config.scopes }));
    return async () => `Bearer ${(await (await adc).getAccessToken()) ?? ''}`;
  }
  const tokenUri = config.tokenUri ?? account.token_uri ?? 'https://oauth2.googleapis.com/token';
  const client = createHttpClient({ baseUrl: tokenUri, timeout: config.timeout, retries: config.retries }, agent);
  let cached: { token: string; expiresAt: number } | undefined;
  return async () => {
    if (!cached || cached.expiresAt - 60_000 < Date.now()) {
      const res = await client.request<{ access_token: string; expires_in: number }>({
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: serviceAccountAssertion(account, tokenUri, config.scopes) }).toString(),
      });
      cached = { token: res.data.access_token, expiresAt: Date.now() + res.data.expires_in * 1000 };
    }
    return `Bearer ${cached.token}`;
  };
}
