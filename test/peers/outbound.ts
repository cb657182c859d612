/** Builds an outbound connector for a test, pointed at a local peer, with its logs captured. */
import type { ConnectorDefinition } from '../../src/registry/contract.js';
import { captureLogs } from '../helpers/index.js';

export function connectOutbound<Api>(definition: ConnectorDefinition, config: Record<string, unknown>, secrets: string[] = []) {
  const logs = captureLogs(secrets);
  const outbound = definition.outbound!({ name: definition.type, config: { timeout: '5s', retries: 2, maxRetryDelay: '5s', allowPrivateNetworks: true, ...config } as never, log: logs.log, signal: new AbortController().signal });
  return { api: outbound.api as Api, logs, close: () => outbound.close() };
}

/** A thrown error, serialized every way a log line could, must not contain the secret. */
export function leaks(err: unknown, secret: string): boolean {
  const e = err as Error & Record<string, unknown>;
  return [String(e), e.message, e.stack ?? '', JSON.stringify(e), JSON.stringify({ ...e })].some((s) => s.includes(secret));
}
