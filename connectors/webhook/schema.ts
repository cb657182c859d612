import { Type, type Static } from '@sinclair/typebox';
import { SecretString, StringEnum } from '../../src/config/schema.js';
import { ByteSize, Duration } from '../../src/config/units.js';

export const PROVIDERS = ['github', 'stripe', 'slack', 'shopify', 'twilio', 'gitlab', 'standard-webhooks', 'discord', 'zoom', 'meta', 'msgraph'] as const;
export type Provider = (typeof PROVIDERS)[number];
export const SCHEMES = [...PROVIDERS, 'hmac', 'bearer', 'basic', 'none'] as const;
export type Scheme = (typeof SCHEMES)[number];

export const WebhookConfigSchema = Type.Object(
  {
    provider: Type.Optional(StringEnum(PROVIDERS, { description: 'sets verification, handshake, dedup key and event mapping for a known sender' })),
    path: Type.Optional(Type.String({ pattern: '^/[A-Za-z0-9/_.~-]*$', description: 'URL path; defaults to /hooks/<name>' })),
    bodyLimit: Type.Optional(ByteSize({ description: 'largest accepted body; defaults to gateway.bodyLimit' })),
    secret: Type.Optional(SecretString({ description: 'the signing secret (or token, or Standard Webhooks whsec_/whpk_ key)' })),
    secrets: Type.Optional(Type.Array(SecretString(), { minItems: 1, description: 'several secrets at once, to rotate without downtime; any may match' })),
    verifyToken: Type.Optional(SecretString({ description: 'meta: the verify token of the GET subscription handshake' })),
    publicUrl: Type.Optional(Type.String({ pattern: '^https?://', description: 'twilio (and hmac {url}): the public URL the sender calls' })),
    publicKey: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'discord: the application public key (hex)' })),
    username: Type.Optional(Type.String({ minLength: 1, description: 'basic: the expected user name' })),
    verify: Type.Optional(
      Type.Object(
        {
          scheme: StringEnum(SCHEMES, { description: 'a provider scheme, hmac (described below), bearer, basic, or none (explicit)' }),
          tolerance: Type.Optional(Duration({ description: 'largest clock distance of a signed timestamp, both ways' })),
          header: Type.Optional(Type.String({ minLength: 1, description: 'hmac: header carrying the signature' })),
          algorithm: Type.Optional(StringEnum(['sha1', 'sha256', 'sha512'], { description: 'hmac; default sha256' })),
          encoding: Type.Optional(StringEnum(['hex', 'base64'], { description: 'hmac; default hex' })),
          format: Type.Optional(StringEnum(['plain', 'pairs', 'list'], { description: 'hmac: plain prefix+digest; pairs t=…,v1=…; list "v1,sig v1,sig"' })),
          prefix: Type.Optional(Type.String({ description: 'hmac plain: text before the digest, e.g. "sha256="' })),
          pairKey: Type.Optional(Type.String({ minLength: 1, description: 'hmac pairs: key of the signatures (v1)' })),
          timestampKey: Type.Optional(Type.String({ minLength: 1, description: 'hmac pairs: key of the timestamp (t)' })),
          version: Type.Optional(Type.String({ minLength: 1, description: 'hmac list: version tag of the signatures (v1)' })),
          signedPayload: Type.Optional(Type.String({ minLength: 1, description: 'hmac: what is signed, over {body} {timestamp} {id} {url} {params}; default {body}' })),
          timestampHeader: Type.Optional(Type.String({ minLength: 1 })),
          idHeader: Type.Optional(Type.String({ minLength: 1 })),
          secretEncoding: Type.Optional(StringEnum(['utf8', 'base64'], { description: 'hmac: how the secret becomes the key' })),
          secretPrefix: Type.Optional(Type.String({ description: 'hmac: removed from the secret first, e.g. whsec_' })),
        },
        { additionalProperties: false },
      ),
    ),
    event: Type.Object(
      {
        type: Type.Optional(Type.String({ minLength: 1, description: 'template, e.g. com.example.{headers.x-event}' })),
        source: Type.Optional(Type.String({ minLength: 1, description: 'template; defaults to the provider mapping or /switchboard/webhook/<name>' })),
        subject: Type.Optional(Type.String({ minLength: 1, description: 'template' })),
        id: Type.Optional(Type.String({ minLength: 1, description: 'template, e.g. {headers.x-delivery-id}: the dedup key' })),
        idFallback: StringEnum(['body-hash', 'random'], { default: 'body-hash', description: 'id when none is found: a hash of the body (dedups identical resends) or random' }),
      },
      { additionalProperties: false, default: {} },
    ),
    dedupWindow: Type.Optional(Duration({ description: 'how long a delivery id is remembered; defaults to bus.dedupWindow' })),
    rateLimit: Type.Optional(
      Type.Object(
        {
          requests: Type.Integer({ minimum: 1, description: 'requests allowed per window (per gateway replica)' }),
          per: Duration({ default: '1s' }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export type WebhookConfig = Static<typeof WebhookConfigSchema>;
