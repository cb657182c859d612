/**
 * The `http` runtime: the event is POSTed in CloudEvents binary mode to a URL (a Knative Service,
 * an OpenFaaS gateway, Cloud Run, a Lambda function URL). A 2xx is success and its body the result;
 * anything else, or the timeout, is a failure that is retried.
 */
import type { RuntimeConfig } from '../../config/functions.js';
import type { CloudEvent } from '../../events/cloudevent.js';
import { createOutboundAgent, undici, unwrapFetchError } from '../../net/outbound.js';
import { FunctionFailedError, parseOutput, type Runtime } from './types.js';

type HttpConfig = Extract<RuntimeConfig, { kind: 'http' }>;

// Binary-mode header values: percent-encode space, double quote, percent and non-printable ASCII.
const encodeHeader = (value: string) =>
  [...Buffer.from(value, 'utf8')].map((b) => (b <= 0x20 || b >= 0x7f || b === 0x22 || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b))).join('');

export function binaryModeRequest(event: CloudEvent): { headers: Record<string, string>; body: string | Buffer | undefined } {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event)) {
    if (name === 'data' || name === 'data_base64' || name === 'datacontenttype' || value === undefined) continue;
    headers[`ce-${name}`] = encodeHeader(String(value));
  }
  if (event.datacontenttype) headers['content-type'] = event.datacontenttype;
  let body: string | Buffer | undefined;
  if (event.data_base64 !== undefined) body = Buffer.from(event.data_base64, 'base64');
  else if (event.data !== undefined) {
    const json = event.datacontenttype === undefined || /[/+]json\b/.test(event.datacontenttype);
    body = json && typeof event.data !== 'string' ? JSON.stringify(event.data) : typeof event.data === 'string' ? event.data : JSON.stringify(event.data);
    headers['content-type'] ??= 'application/json';
  }
  return { headers, body };
}

export function httpRuntime(config: HttpConfig): Runtime {
  const agent = createOutboundAgent({ allowPrivateNetworks: config.allowPrivateNetworks });
  return {
    async invoke(event, ctx) {
      const { headers, body } = binaryModeRequest(event);
      let response;
      try {
        response = await undici().fetch(config.url, { method: 'POST', headers: { ...config.headers, ...headers }, body: body ?? null, dispatcher: agent, signal: ctx.signal });
      } catch (err) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        const cause = unwrapFetchError(err);
        throw cause instanceof Error && cause !== err ? cause : new FunctionFailedError(`POST ${config.url} failed: ${(err as Error).message}`);
      }
      const text = await response.text();
      if (response.status < 200 || response.status > 299) {
        throw new FunctionFailedError(`POST ${config.url} answered ${response.status}${text ? `: ${text.slice(0, 500)}` : ''}`);
      }
      return parseOutput(text);
    },
    close: () => agent.close(),
  };
}
