/**
 * Signature checks: constant-time, on the raw body bytes, fail-closed, several secrets at once
 * (rotation). One generic HMAC engine expresses every HMAC-based provider; token, basic-auth and
 * Ed25519 schemes sit beside it.
 */
import { createHmac, createPublicKey, createSecretKey, timingSafeEqual, verify as verifySignature, type KeyObject } from 'node:crypto';
import { HttpError } from '../../src/gateway/http-error.js';
import type { InboundHttpRequest } from '../../src/registry/contract.js';

export type Verifier = (request: InboundHttpRequest, nowMs?: number) => void;

export function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const left = typeof a === 'string' ? Buffer.from(a) : a;
  const right = typeof b === 'string' ? Buffer.from(b) : b;
  // timingSafeEqual throws on different lengths; the length of a signature is no secret.
  return left.length === right.length && timingSafeEqual(left, right);
}

export const unauthorized = (message: string) => new HttpError(401, 'SWB_ERR_HTTP_SIGNATURE', message);

function header(request: InboundHttpRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A generic HMAC scheme: where the signature is, how it is encoded, and what was signed. */
export interface HmacSpec {
  algorithm: 'sha1' | 'sha256' | 'sha512';
  /** Header carrying the signature(s), lower case. */
  header: string;
  /**
   * plain: the header is `prefix` + digest;
   * pairs: `t=…,v1=…,v1=…` (Stripe): signatures under `pairKey`, the timestamp under `pairTimestampKey`;
   * list: space-separated `version,digest` entries (Standard Webhooks).
   */
  format: 'plain' | 'pairs' | 'list';
  prefix: string;
  pairKey: string;
  pairTimestampKey?: string;
  listVersion: string;
  encoding: 'hex' | 'base64';
  /** What is signed: a template over {body}, {timestamp}, {id}, {url} and {params} (sorted form fields, name+value). */
  signedPayload: string;
  timestampHeader?: string;
  idHeader?: string;
  /** Largest allowed distance between the signed timestamp and now, both ways; 0 disables the check. */
  toleranceMs: number;
  /** How a secret string becomes the HMAC key; `secretPrefix` (e.g. `whsec_`) is removed first. */
  secretEncoding: 'utf8' | 'base64';
  secretPrefix: string;
  /** The public URL the sender called, for {url} (the gateway usually sits behind a proxy). */
  publicUrl?: string;
}

export const HMAC_DEFAULTS: Omit<HmacSpec, 'header'> = {
  algorithm: 'sha256',
  format: 'plain',
  prefix: '',
  pairKey: 'v1',
  listVersion: 'v1',
  encoding: 'hex',
  signedPayload: '{body}',
  toleranceMs: 0,
  secretEncoding: 'utf8',
  secretPrefix: '',
};

interface SignedParts {
  timestamp?: string;
  id?: string;
  signatures: string[];
}

function readSignatures(spec: HmacSpec, request: InboundHttpRequest, version = spec.listVersion): SignedParts {
  const raw = header(request, spec.header);
  if (!raw) throw unauthorized(`missing signature header ${spec.header}`);
  const parts: SignedParts = { signatures: [] };
  if (spec.format === 'plain') {
    if (!raw.startsWith(spec.prefix)) throw unauthorized(`signature in ${spec.header} does not start with "${spec.prefix}"`);
    parts.signatures.push(raw.slice(spec.prefix.length));
  } else if (spec.format === 'pairs') {
    for (const item of raw.split(',')) {
      const eq = item.indexOf('=');
      if (eq < 0) continue;
      const key = item.slice(0, eq).trim();
      const value = item.slice(eq + 1).trim();
      if (key === spec.pairKey) parts.signatures.push(value);
      else if (spec.pairTimestampKey && key === spec.pairTimestampKey) parts.timestamp = value;
    }
  } else {
    for (const item of raw.split(' ')) {
      const comma = item.indexOf(',');
      if (comma > 0 && item.slice(0, comma) === version) parts.signatures.push(item.slice(comma + 1));
    }
  }
  if (spec.timestampHeader) parts.timestamp = header(request, spec.timestampHeader);
  if (spec.idHeader) parts.id = header(request, spec.idHeader);
  return parts;
}

/** Accepts seconds or milliseconds since the epoch. */
export function checkTimestamp(timestamp: string | undefined, toleranceMs: number, nowMs: number): void {
  if (toleranceMs <= 0) return;
  if (!timestamp || !/^\d{1,16}$/.test(timestamp)) throw unauthorized('missing or malformed signature timestamp');
  const value = Number(timestamp);
  const ms = value > 1e12 ? value : value * 1000;
  if (Math.abs(nowMs - ms) > toleranceMs) {
    throw unauthorized(`signature timestamp is outside the tolerance of ${Math.round(toleranceMs / 1000)} s`);
  }
}

function sortedFormParams(body: Buffer): string {
  const params = [...new URLSearchParams(body.toString('utf8'))];
  params.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return params.map(([k, v]) => k + v).join('');
}

export function signedPayload(spec: HmacSpec, request: InboundHttpRequest, parts: Pick<SignedParts, 'timestamp' | 'id'>): Buffer {
  if (spec.signedPayload === '{body}') return request.rawBody;
  const pieces: Buffer[] = [];
  for (const token of spec.signedPayload.split(/(\{(?:body|timestamp|id|url|params)\})/)) {
    if (token === '{body}') pieces.push(request.rawBody);
    else if (token === '{timestamp}') pieces.push(Buffer.from(parts.timestamp ?? ''));
    else if (token === '{id}') pieces.push(Buffer.from(parts.id ?? ''));
    else if (token === '{url}') pieces.push(Buffer.from(publicUrlOf(spec, request)));
    else if (token === '{params}') pieces.push(Buffer.from(sortedFormParams(request.rawBody)));
    else if (token) pieces.push(Buffer.from(token));
  }
  return Buffer.concat(pieces);
}

function publicUrlOf(spec: HmacSpec, request: InboundHttpRequest): string {
  const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
  const base = spec.publicUrl ? spec.publicUrl.replace(/\?.*$/, '') : `http://${header(request, 'host') ?? 'localhost'}${request.path}`;
  return base + query;
}

/** The HMAC key of a secret, prepared once: a KeyObject spares each request the key's conversion (measured 1.8 → 1.55 µs per GitHub push). */
export function hmacKey(spec: Pick<HmacSpec, 'secretEncoding' | 'secretPrefix'>, secret: string): KeyObject {
  const stripped = spec.secretPrefix && secret.startsWith(spec.secretPrefix) ? secret.slice(spec.secretPrefix.length) : secret;
  return createSecretKey(Buffer.from(stripped, spec.secretEncoding === 'base64' ? 'base64' : 'utf8'));
}

export function hmacDigest(spec: Pick<HmacSpec, 'algorithm' | 'encoding'>, key: KeyObject, payload: Buffer): string {
  return createHmac(spec.algorithm, key).update(payload).digest(spec.encoding);
}

export function hmacVerifier(spec: HmacSpec, secrets: string[]): Verifier {
  const keys = secrets.map((s) => hmacKey(spec, s));
  return (request, nowMs = Date.now()) => {
    const parts = readSignatures(spec, request);
    if (parts.signatures.length === 0) throw unauthorized(`no ${spec.format === 'pairs' ? spec.pairKey : spec.listVersion} signature in ${spec.header}`);
    checkTimestamp(parts.timestamp, spec.toleranceMs, nowMs);
    const payload = signedPayload(spec, request, parts);
    for (const key of keys) {
      const expected = hmacDigest(spec, key, payload);
      if (parts.signatures.some((candidate) => constantTimeEqual(candidate, expected))) return;
    }
    throw unauthorized(`signature in ${spec.header} does not match`);
  };
}

/** Signs like the sender would (for `switchboard send` and tests): the header value for one secret. */
export function hmacSign(spec: HmacSpec, secret: string, request: InboundHttpRequest, parts: { timestamp?: string; id?: string }): string {
  const digest = hmacDigest(spec, hmacKey(spec, secret), signedPayload(spec, request, parts));
  if (spec.format === 'plain') return spec.prefix + digest;
  if (spec.format === 'pairs') return `${spec.pairTimestampKey ?? 't'}=${parts.timestamp},${spec.pairKey}=${digest}`;
  return `${spec.listVersion},${digest}`;
}

/** A shared token compared in constant time (GitLab's X-Gitlab-Token). */
export function tokenVerifier(headerName: string, secrets: string[]): Verifier {
  return (request) => {
    const value = header(request, headerName);
    if (!value) throw unauthorized(`missing ${headerName} header`);
    if (!secrets.some((s) => constantTimeEqual(value, s))) throw unauthorized(`${headerName} does not match`);
  };
}

export function bearerVerifier(secrets: string[]): Verifier {
  return (request) => {
    const value = header(request, 'authorization');
    if (!value || !/^Bearer /i.test(value)) throw unauthorized('missing bearer token in the authorization header');
    const token = value.slice(7).trim();
    if (!secrets.some((s) => constantTimeEqual(token, s))) throw unauthorized('bearer token does not match');
  };
}

export function basicVerifier(username: string, secrets: string[]): Verifier {
  const expected = secrets.map((s) => 'Basic ' + Buffer.from(`${username}:${s}`).toString('base64'));
  return (request) => {
    const value = header(request, 'authorization');
    if (!value || !/^Basic /i.test(value)) throw unauthorized('missing basic credentials in the authorization header');
    if (!expected.some((e) => constantTimeEqual(value, e))) throw unauthorized('basic credentials do not match');
  };
}

export function ed25519PublicKey(encoded: string, encoding: 'hex' | 'base64'): KeyObject {
  const raw = Buffer.from(encoded, encoding);
  if (raw.length !== 32) throw new Error(`an Ed25519 public key is 32 bytes; this one is ${raw.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

/** Discord interactions: Ed25519 over timestamp + body, hex signature. */
export function discordVerifier(publicKeysHex: string[]): Verifier {
  const keys = publicKeysHex.map((k) => ed25519PublicKey(k, 'hex'));
  return (request) => {
    const signature = header(request, 'x-signature-ed25519');
    const timestamp = header(request, 'x-signature-timestamp');
    if (!signature || !timestamp) throw unauthorized('missing x-signature-ed25519 or x-signature-timestamp header');
    if (!/^[0-9a-f]{128}$/i.test(signature)) throw unauthorized('x-signature-ed25519 is not a hex Ed25519 signature');
    const message = Buffer.concat([Buffer.from(timestamp), request.rawBody]);
    const sig = Buffer.from(signature, 'hex');
    if (!keys.some((key) => verifySignature(null, message, key, sig))) throw unauthorized('x-signature-ed25519 does not match');
  };
}

export const STANDARD_WEBHOOKS: HmacSpec = {
  ...HMAC_DEFAULTS,
  header: 'webhook-signature',
  format: 'list',
  listVersion: 'v1',
  encoding: 'base64',
  signedPayload: '{id}.{timestamp}.{body}',
  timestampHeader: 'webhook-timestamp',
  idHeader: 'webhook-id',
  toleranceMs: 5 * 60_000,
  secretEncoding: 'base64',
  secretPrefix: 'whsec_',
};

/**
 * Standard Webhooks: `v1,<base64 HMAC>` for `whsec_` secrets and `v1a,<base64 Ed25519>` for `whpk_`
 * public keys, any of several space-separated signatures.
 */
export function standardWebhooksVerifier(secrets: string[], toleranceMs = STANDARD_WEBHOOKS.toleranceMs): Verifier {
  const spec = { ...STANDARD_WEBHOOKS, toleranceMs };
  const hmacKeys = secrets.filter((s) => !s.startsWith('whpk_')).map((s) => hmacKey(spec, s));
  const publicKeys = secrets.filter((s) => s.startsWith('whpk_')).map((s) => ed25519PublicKey(s.slice(5), 'base64'));
  return (request, nowMs = Date.now()) => {
    const v1 = readSignatures(spec, request, 'v1');
    const v1a = readSignatures(spec, request, 'v1a');
    if (!v1.id) throw unauthorized('missing webhook-id header');
    if (v1.signatures.length === 0 && v1a.signatures.length === 0) throw unauthorized('no v1 or v1a signature in webhook-signature');
    checkTimestamp(v1.timestamp, spec.toleranceMs, nowMs);
    const payload = signedPayload(spec, request, v1);
    for (const key of hmacKeys) {
      const expected = hmacDigest(spec, key, payload);
      if (v1.signatures.some((s) => constantTimeEqual(s, expected))) return;
    }
    for (const key of publicKeys) {
      for (const s of v1a.signatures) {
        const sig = Buffer.from(s, 'base64');
        if (sig.length === 64 && verifySignature(null, payload, key, sig)) return;
      }
    }
    throw unauthorized('signature in webhook-signature does not match');
  };
}

/** Microsoft Graph change notifications carry the subscription's clientState in every item. */
export function clientStateVerifier(secrets: string[]): Verifier {
  return (request) => {
    let body: { value?: { clientState?: unknown }[] };
    try {
      body = JSON.parse(request.rawBody.toString('utf8'));
    } catch {
      throw new HttpError(400, 'SWB_ERR_HTTP_BODY_INVALID', 'body is not valid JSON');
    }
    const items = Array.isArray(body?.value) ? body.value : [];
    if (items.length === 0) throw unauthorized('no notifications with a clientState in the body');
    for (const item of items) {
      const state = typeof item?.clientState === 'string' ? item.clientState : '';
      if (!secrets.some((s) => constantTimeEqual(state, s))) throw unauthorized('clientState does not match');
    }
  };
}
