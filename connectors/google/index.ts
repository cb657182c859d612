/**
 * Google APIs through `googleapis`: Sheets `values.append` and Firestore documents. Credentials are a
 * service-account JSON by secret reference, exchanged (an RS256 JWT assertion) for an access token at
 * the credentials' `token_uri` — overridable, so tests and private endpoints work — or, without
 * credentials, Application Default Credentials (workload identity). 429 and 5xx are retried after
 * Retry-After.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { firestore_v1 } from 'googleapis/build/src/apis/firestore/index.js';
import type { sheets_v4 } from 'googleapis/build/src/apis/sheets/index.js';
import { SecretString } from '../../src/config/schema.js';
import { Duration, toMilliseconds } from '../../src/config/units.js';
import { defineConnector } from '../../src/registry/contract.js';
import { createOutboundAgent } from '../../src/net/outbound.js';
import { context } from '@opentelemetry/api';
import { injectTraceHeaders, inSpan, SpanKind } from '../../src/ops/tracing.js';
import { retryDelay } from '../http/index.js';
import { googleAuthorization, type ServiceAccount } from './auth.js';

export const GoogleConfigSchema = Type.Object(
  {
    credentials: Type.Optional(SecretString({ description: 'service-account key JSON; without it, Application Default Credentials' })),
    accessToken: Type.Optional(SecretString({ description: 'a ready access token instead (e.g. "owner" for the Firestore emulator)' })),
    tokenUri: Type.Optional(Type.String({ pattern: '^https?://', description: 'overrides the credentials token_uri' })),
    projectId: Type.Optional(Type.String({ minLength: 1, description: 'defaults to the credentials project_id' })),
    database: Type.String({ default: '(default)', description: 'Firestore database' }),
    sheetsUrl: Type.String({ pattern: '^https?://', default: 'https://sheets.googleapis.com/' }),
    firestoreUrl: Type.String({ pattern: '^https?://', default: 'https://firestore.googleapis.com/' }),
    scopes: Type.Array(Type.String(), { default: ['https://www.googleapis.com/auth/spreadsheets', 'https://www.googleapis.com/auth/datastore'] }),
    timeout: Duration({ default: '15s' }),
    retries: Type.Integer({ minimum: 0, maximum: 10, default: 3 }),
    allowPrivateNetworks: Type.Boolean({ default: false, description: 'for the token endpoint (tests, private endpoints)' }),
  },
  { additionalProperties: false },
);
export type GoogleConfig = Static<typeof GoogleConfigSchema>;

export type FirestoreData = Record<string, unknown>;

export interface GoogleApi {
  /** Sheets spreadsheets.values.append; resolves with Google's `updates`. */
  appendRows(args: { spreadsheetId: string; range: string; values: unknown[][]; valueInputOption?: 'RAW' | 'USER_ENTERED' }): Promise<Record<string, unknown>>;
  /** Firestore createDocument in `collection` (a path such as `orders` or `users/u1/orders`). */
  createDocument(args: { collection: string; documentId?: string; data: FirestoreData }): Promise<{ name: string }>;
  /** Firestore patch: sets the given fields of the document at `path` (e.g. `orders/o1`), creating it if needed. */
  updateDocument(args: { path: string; data: FirestoreData }): Promise<{ name: string }>;
  getDocument(path: string): Promise<FirestoreData | undefined>;
}

/** Encodes plain JSON as Firestore's typed values. */
export function toFirestoreValue(value: unknown): firestore_v1.Schema$Value {
  if (value === null || value === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof value === 'boolean') return { booleanValue: value };
  if (typeof value === 'number') return Number.isInteger(value) ? { integerValue: String(value) } : { doubleValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (value instanceof Date) return { timestampValue: value.toISOString() };
  if (Array.isArray(value)) return { arrayValue: { values: value.map(toFirestoreValue) } };
  return { mapValue: { fields: toFirestoreFields(value as FirestoreData) } };
}

export function toFirestoreFields(data: FirestoreData): Record<string, firestore_v1.Schema$Value> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, toFirestoreValue(v)]));
}

export function fromFirestoreValue(value: firestore_v1.Schema$Value): unknown {
  if ('stringValue' in value) return value.stringValue;
  if ('integerValue' in value) return Number(value.integerValue);
  if ('doubleValue' in value) return value.doubleValue;
  if ('booleanValue' in value) return value.booleanValue;
  if ('timestampValue' in value) return value.timestampValue;
  if ('arrayValue' in value) return (value.arrayValue?.values ?? []).map(fromFirestoreValue);
  if ('mapValue' in value) return Object.fromEntries(Object.entries(value.mapValue?.fields ?? {}).map(([k, v]) => [k, fromFirestoreValue(v)]));
  return null;
}

async function withRetries<T>(retries: number, call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const e = err as { status?: number; response?: { status?: number; headers?: Headers | Record<string, string> } };
      const status = e.status ?? e.response?.status;
      const headers = e.response?.headers;
      const retryAfter = headers instanceof Headers ? (headers.get('retry-after') ?? undefined) : headers?.['retry-after'];
      if (attempt >= retries || !(status === 429 || (status !== undefined && status >= 500))) throw err;
      await new Promise((r) => setTimeout(r, Math.min(retryDelay(retryAfter, attempt), 30_000)));
    }
  }
}

export default defineConnector({
  type: 'google',
  description: 'Calls Google APIs (Sheets, Firestore) with a service account or workload identity.',
  configSchema: GoogleConfigSchema,
  outbound(ctx) {
    const config: GoogleConfig = ctx.config;
    const account = config.credentials ? (JSON.parse(config.credentials) as ServiceAccount) : undefined;
    const projectId = config.projectId ?? account?.project_id;
    const timeout = toMilliseconds(config.timeout);
    const agent = createOutboundAgent({ allowPrivateNetworks: config.allowPrivateNetworks });
    const authorization = googleAuthorization(config, agent);
    const options = async () => {
      const auth = await authorization();
      const headers: Record<string, string> = auth ? { Authorization: auth } : {};
      injectTraceHeaders(headers);
      return { headers, timeout, retry: false };
    };
    const traced = <T>(name: string, work: () => Promise<T>) => inSpan(name, SpanKind.CLIENT, context.active(), { 'switchboard.connector': ctx.name }, work);
    let sheetsApi: Promise<sheets_v4.Sheets> | undefined;
    let firestoreApi: Promise<firestore_v1.Firestore> | undefined;
    const sheets = () => (sheetsApi ??= import('googleapis/build/src/apis/sheets/index.js').then((m) => m.sheets({ version: 'v4', rootUrl: config.sheetsUrl })));
    const firestore = () => (firestoreApi ??= import('googleapis/build/src/apis/firestore/index.js').then((m) => m.firestore({ version: 'v1', rootUrl: config.firestoreUrl })));
    const documents = () => {
      if (!projectId) throw new Error(`google connector "${ctx.name}" needs projectId (or credentials with project_id) for Firestore`);
      return `projects/${projectId}/databases/${config.database}/documents`;
    };

    const api: GoogleApi = {
      appendRows: ({ spreadsheetId, range, values, valueInputOption = 'USER_ENTERED' }) => traced('google sheets.values.append', async () => {
        const res = await withRetries(config.retries, async () =>
          (await sheets()).spreadsheets.values.append({ spreadsheetId, range, valueInputOption, requestBody: { values } }, await options()),
        );
        return (res.data.updates ?? {}) as Record<string, unknown>;
      }),
      createDocument: ({ collection, documentId, data }) => traced('google firestore.createDocument', async () => {
        const slash = collection.lastIndexOf('/');
        const parent = slash < 0 ? documents() : `${documents()}/${collection.slice(0, slash)}`;
        const collectionId = slash < 0 ? collection : collection.slice(slash + 1);
        const res = await withRetries(config.retries, async () =>
          (await firestore()).projects.databases.documents.createDocument({ parent, collectionId, ...(documentId ? { documentId } : {}), requestBody: { fields: toFirestoreFields(data) } }, await options()),
        );
        return { name: res.data.name! };
      }),
      updateDocument: ({ path, data }) => traced('google firestore.patch', async () => {
        const res = await withRetries(config.retries, async () =>
          (await firestore()).projects.databases.documents.patch({ name: `${documents()}/${path}`, 'updateMask.fieldPaths': Object.keys(data), requestBody: { fields: toFirestoreFields(data) } }, await options()),
        );
        return { name: res.data.name! };
      }),
      async getDocument(path) {
        try {
          const res = await (await firestore()).projects.databases.documents.get({ name: `${documents()}/${path}` }, await options());
          return fromFirestoreValue({ mapValue: { fields: res.data.fields ?? {} } }) as FirestoreData;
        } catch (err) {
          if ((err as { status?: number }).status === 404) return undefined;
          throw err;
        }
      },
    };
    return { api, close: () => agent.close() };
  },
});
