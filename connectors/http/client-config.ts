/** Config fields every HTTP-based outbound connector shares: base URL, timeout, retries, SSRF guard. */
import { Type } from '@sinclair/typebox';
import { Duration } from '../../src/config/units.js';

export function httpClientFields(defaultBaseUrl: string) {
  return {
    baseUrl: Type.String({ pattern: '^https?://', default: defaultBaseUrl, description: 'API base URL (override for proxies, tests, enterprise hosts)' }),
    timeout: Duration({ default: '10s' }),
    retries: Type.Integer({ minimum: 0, maximum: 10, default: 3, description: 'retries on 429 and 5xx, after Retry-After when given' }),
    maxRetryDelay: Duration({ default: '30s' }),
    allowPrivateNetworks: Type.Boolean({ default: false }),
  };
}
