import { Type, type Static } from '@sinclair/typebox';
import { SecretString, StringEnum } from '../../src/config/schema.js';
import { ByteSize } from '../../src/config/units.js';

export const WebhookConfigSchema = Type.Object(
  {
    path: Type.Optional(Type.String({ pattern: '^/[A-Za-z0-9/_.~-]*$', description: 'URL path; defaults to /hooks/<name>' })),
    bodyLimit: Type.Optional(ByteSize({ description: 'largest accepted body; defaults to gateway.bodyLimit' })),
    verify: Type.Object(
      {
        scheme: StringEnum(['github', 'hmac', 'none'], { description: 'github: X-Hub-Signature-256; hmac: configurable; none: no check (explicit)' }),
        secret: Type.Optional(SecretString({ description: 'shared secret, by reference' })),
        header: Type.Optional(Type.String({ minLength: 1, description: 'hmac: header carrying the signature' })),
        algorithm: StringEnum(['sha1', 'sha256', 'sha512'], { default: 'sha256' }),
        encoding: StringEnum(['hex', 'base64'], { default: 'hex' }),
        prefix: Type.String({ default: '', description: 'hmac: text before the digest in the header, e.g. "sha256="' }),
      },
      { additionalProperties: false },
    ),
    event: Type.Object(
      {
        type: Type.String({ minLength: 1, default: 'dev.switchboard.webhook', description: 'template, e.g. com.github.{headers.x-github-event}' }),
        source: Type.Optional(Type.String({ minLength: 1, description: 'template; defaults to /switchboard/webhook/<name>' })),
        subject: Type.Optional(Type.String({ minLength: 1, description: 'template' })),
        id: Type.Optional(Type.String({ minLength: 1, description: 'template, e.g. {headers.x-github-delivery}; a random id when it comes out empty' })),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type WebhookConfig = Static<typeof WebhookConfigSchema>;
