/**
 * AWS SQS in and out with `@aws-sdk/client-sqs`. Inbound: long polling, batches up to 10, messages
 * deleted (in batch) only after the bus holds their events, visibility extended while an enqueue is
 * pending; SNS envelopes unwrapped on request; FIFO group ids kept. Outbound: send and sendBatch.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Message, MessageAttributeValue, SQSClient } from '@aws-sdk/client-sqs';
import { SecretString } from '../../src/config/schema.js';
import { Duration, toMilliseconds } from '../../src/config/units.js';
import { eventFromMessage } from '../../src/events/message.js';
import { defineConnector } from '../../src/registry/contract.js';
import { Poller, type PollSource } from '../../src/registry/poller.js';

export const SqsConfigSchema = Type.Object(
  {
    queueUrl: Type.String({ pattern: '^https?://', description: 'the queue to receive from and send to' }),
    region: Type.String({ default: 'us-east-1' }),
    endpoint: Type.Optional(Type.String({ pattern: '^https?://', description: 'override for LocalStack, fauxqs, VPC endpoints' })),
    accessKeyId: Type.Optional(SecretString({ description: 'without it, the default AWS credential chain (IRSA, instance profile, env)' })),
    secretAccessKey: Type.Optional(SecretString()),
    sessionToken: Type.Optional(SecretString()),
    receive: Type.Boolean({ default: true, description: 'poll the queue (inbound); false for a send-only connector' }),
    waitTime: Duration({ default: '20s', description: 'long-polling wait (at most 20s)' }),
    batchSize: Type.Integer({ minimum: 1, maximum: 10, default: 10 }),
    concurrency: Type.Integer({ minimum: 1, maximum: 50, default: 1, description: 'parallel receive loops' }),
    visibilityTimeout: Duration({ default: '30s', description: 'how long a received message stays hidden; extended while enqueueing' }),
    unwrapSns: Type.Boolean({ default: false, description: 'take the message out of an SNS notification envelope' }),
    type: Type.String({ minLength: 1, default: 'com.amazon.sqs.message', description: 'CloudEvent type of messages that are not CloudEvents' }),
    source: Type.Optional(Type.String({ minLength: 1, description: 'defaults to the queue URL' })),
    dedupWindow: Type.Optional(Duration({})),
  },
  { additionalProperties: false },
);
export type SqsConfig = Static<typeof SqsConfigSchema>;

export interface SqsSendInput {
  body?: string;
  json?: unknown;
  attributes?: Record<string, string | number>;
  groupId?: string;
  dedupId?: string;
  delaySeconds?: number;
}

export interface SqsApi {
  send(message: SqsSendInput): Promise<{ messageId: string }>;
  sendBatch(messages: SqsSendInput[]): Promise<{ messageIds: string[] }>;
}

type SqsLibrary = typeof import('@aws-sdk/client-sqs');

/** The AWS SDK loads on first use (it is large): a gateway without SQS connectors never loads it. */
function client(config: SqsConfig) {
  let made: Promise<{ sdk: SqsLibrary; sqs: SQSClient }> | undefined;
  return {
    get: () =>
      (made ??= import('@aws-sdk/client-sqs').then((sdk) => ({
        sdk,
        sqs: new sdk.SQSClient({
          region: config.region,
          ...(config.endpoint ? { endpoint: config.endpoint } : {}),
          ...(config.accessKeyId && config.secretAccessKey
            ? { credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey, ...(config.sessionToken ? { sessionToken: config.sessionToken } : {}) } }
            : {}),
        }),
      }))),
    destroy: async () => (await made)?.sqs.destroy(),
  };
}

function attributesOf(values: Record<string, MessageAttributeValue> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(values ?? {})) {
    if (value.StringValue !== undefined) out[name] = value.StringValue;
    else if (value.BinaryValue !== undefined) out[name] = Buffer.from(value.BinaryValue).toString('base64');
  }
  return out;
}

function toEntry(m: SqsSendInput) {
  return {
    MessageBody: m.body ?? JSON.stringify(m.json ?? null),
    ...(m.attributes
      ? { MessageAttributes: Object.fromEntries(Object.entries(m.attributes).map(([k, v]) => [k, typeof v === 'number' ? { DataType: 'Number', StringValue: String(v) } : { DataType: 'String', StringValue: v }])) }
      : {}),
    ...(m.groupId ? { MessageGroupId: m.groupId } : {}),
    ...(m.dedupId ? { MessageDeduplicationId: m.dedupId } : {}),
    ...(m.delaySeconds ? { DelaySeconds: m.delaySeconds } : {}),
  };
}

export default defineConnector({
  type: 'sqs',
  description: 'Receives from and sends to an AWS SQS queue.',
  configSchema: SqsConfigSchema,

  inbound(ctx) {
    const config: SqsConfig = ctx.config;
    const aws = client(config);
    const visibility = Math.ceil(toMilliseconds(config.visibilityTimeout) / 1000);
    const source = config.source ?? config.queueUrl;
    const pollSource: PollSource<Message> = {
      async pull(max, signal) {
        const { sdk, sqs } = await aws.get();
        const out = await sqs.send(
          new sdk.ReceiveMessageCommand({
            QueueUrl: config.queueUrl,
            MaxNumberOfMessages: max,
            WaitTimeSeconds: Math.min(20, Math.round(toMilliseconds(config.waitTime) / 1000)),
            VisibilityTimeout: visibility,
            MessageAttributeNames: ['All'],
            MessageSystemAttributeNames: ['MessageGroupId', 'SentTimestamp'],
          }),
          { abortSignal: signal },
        ).catch((err: Error) => {
          if (signal.aborted) return { Messages: [] };
          throw err;
        });
        return out.Messages ?? [];
      },
      async ack(messages) {
        if (messages.length === 0) return;
        const { sdk, sqs } = await aws.get();
        const out = await sqs.send(new sdk.DeleteMessageBatchCommand({ QueueUrl: config.queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
        if (out.Failed?.length) ctx.log.warn({ failed: out.Failed.length }, 'some deletes failed; those messages will be redelivered and deduplicated');
      },
      async extend(messages) {
        const { sdk, sqs } = await aws.get();
        await sqs.send(new sdk.ChangeMessageVisibilityBatchCommand({ QueueUrl: config.queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: visibility })) }));
      },
      describe: (m) => ({ id: m.MessageId ?? '', payload: m.Body ?? '' }),
      toEvent(m) {
        let body = m.Body ?? '';
        let id = m.MessageId!;
        let attributes = attributesOf(m.MessageAttributes);
        let subject: string | undefined;
        if (config.unwrapSns) {
          try {
            const envelope = JSON.parse(body) as { Type?: string; Message?: string; MessageId?: string; Subject?: string; MessageAttributes?: Record<string, { Value: string }> };
            if (envelope.Type === 'Notification' && typeof envelope.Message === 'string') {
              body = envelope.Message;
              id = envelope.MessageId ?? id;
              subject = envelope.Subject;
              attributes = Object.fromEntries(Object.entries(envelope.MessageAttributes ?? {}).map(([k, v]) => [k, v.Value]));
            }
          } catch {
            // not an envelope: the body as it is
          }
        }
        const groupId = m.Attributes?.MessageGroupId;
        const sent = m.Attributes?.SentTimestamp;
        return eventFromMessage({
          id,
          source,
          type: config.type,
          body,
          attributes: { ...attributes, ...(groupId ? { sqsgroupid: groupId } : {}) },
          connector: ctx.name,
          ...(subject ? { subject } : {}),
          ...(sent ? { time: new Date(Number(sent)).toISOString() } : {}),
        });
      },
    };
    let poller: Poller<Message> | undefined;
    return {
      async start(io) {
        if (!config.receive) return;
        poller = new Poller(pollSource, io, {
          connector: ctx.name,
          log: ctx.log,
          batchSize: config.batchSize,
          concurrency: config.concurrency,
          extendEveryMs: (visibility * 1000) / 2,
          ...(config.dedupWindow !== undefined ? { publishOptions: { dedupWindowMs: toMilliseconds(config.dedupWindow) } } : {}),
        });
        poller.start();
      },
      async close() {
        await poller?.close();
        await aws.destroy();
      },
    };
  },

  outbound(ctx) {
    const config: SqsConfig = ctx.config;
    const aws = client(config);
    const api: SqsApi = {
      async send(message) {
        const { sdk, sqs } = await aws.get();
        const out = await sqs.send(new sdk.SendMessageCommand({ QueueUrl: config.queueUrl, ...toEntry(message) }));
        return { messageId: out.MessageId! };
      },
      async sendBatch(messages) {
        const { sdk, sqs } = await aws.get();
        const ids: string[] = [];
        for (let i = 0; i < messages.length; i += 10) {
          const chunk = messages.slice(i, i + 10);
          const out = await sqs.send(new sdk.SendMessageBatchCommand({ QueueUrl: config.queueUrl, Entries: chunk.map((m, k) => ({ Id: String(k), ...toEntry(m) })) }));
          if (out.Failed?.length) throw new Error(`SQS refused ${out.Failed.length} of ${chunk.length} messages: ${out.Failed[0]!.Message ?? out.Failed[0]!.Code}`);
          ids.push(...(out.Successful ?? []).sort((a, b) => Number(a.Id) - Number(b.Id)).map((s) => s.MessageId!));
        }
        return { messageIds: ids };
      },
    };
    return { api, close: () => aws.destroy() };
  },
});
