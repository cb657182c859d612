/** Signature checks: constant-time, on the raw body bytes, fail-closed. */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { InboundHttpRequest } from '../../src/registry/contract.js';
import { HttpError } from '../../src/gateway/http-error.js';
import type { WebhookConfig } from './schema.js';

export type Verifier = (request: InboundHttpRequest) => void;

export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  // timingSafeEqual throws on different lengths; the length of a signature is no secret.
  return left.length === right.length && timingSafeEqual(left, right);
}

const unauthorized = (message: string) => new HttpError(401, 'SWB_ERR_HTTP_SIGNATURE', message);

export function createVerifier(verify: WebhookConfig['verify']): Verifier {
  switch (verify.scheme) {
    case 'none':
      return () => {};
    case 'github':
      return hmacVerifier({ secret: verify.secret!, header: 'x-hub-signature-256', algorithm: 'sha256', encoding: 'hex', prefix: 'sha256=' });
    case 'hmac':
      return hmacVerifier({ secret: verify.secret!, header: verify.header!, algorithm: verify.algorithm, encoding: verify.encoding, prefix: verify.prefix });
  }
}

interface HmacScheme {
  secret: string;
  header: string;
  algorithm: 'sha1' | 'sha256' | 'sha512';
  encoding: 'hex' | 'base64';
  prefix: string;
}

function hmacVerifier(scheme: HmacScheme): Verifier {
  const header = scheme.header.toLowerCase();
  return (request) => {
    const received = request.headers[header];
    if (typeof received !== 'string' || received.length === 0) throw unauthorized(`missing signature header ${header}`);
    const expected = scheme.prefix + createHmac(scheme.algorithm, scheme.secret).update(request.rawBody).digest(scheme.encoding);
    if (!constantTimeEqual(received, expected)) throw unauthorized(`signature in ${header} does not match the body`);
  };
}

export function sign(scheme: Omit<HmacScheme, 'header'>, body: Buffer | string): string {
  return scheme.prefix + createHmac(scheme.algorithm, scheme.secret).update(body).digest(scheme.encoding);
}
