/**
 * One trace from a webhook through both functions of a two-step workflow to the outbound call, collected
 * by a local OTLP/HTTP receiver.
 */
import { randomUUID } from 'node:crypto';
import { flushTracing } from '../src/ops/tracing.js';
import { bootSwitchboard, startRecorder, waitFor, type Recorder } from './helpers/index.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
}

test('a webhook, both functions of a workflow and the outbound call share one trace', async () => {
  const collector: Recorder = await startRecorder();
  const backend = await startRecorder();
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = collector.url;
  const t = await bootSwitchboard(`
connectors:
  - { name: hook, type: webhook, config: { verify: { scheme: none }, event: { type: com.example.start } } }
  - { name: recorder, type: http, config: { baseUrl: "${backend.url}", allowPrivateNetworks: true } }
functions:
  - { name: step-a, runtime: node, module: ./functions/echo.ts, trigger: { type: com.example.start }, emit: { type: com.example.next } }
  - { name: step-b, runtime: node, module: ./functions/record.js, trigger: { type: com.example.next } }
`);
  try {
    const traceId = randomUUID().replace(/-/g, '');
    const res = await fetch(`${t.sb.url}/hooks/hook`, { method: 'POST', headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-00f067aa0ba902b7-01` }, body: '{"n":1}' });
    expect(res.status).toBe(202);
    const call = await waitFor(() => backend.requests.find((r) => r.url === '/record'), 'the outbound call');
    expect(call.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    const spans = await waitFor(async () => {
      await flushTracing();
      const all = collector.requests.filter((r) => r.url === '/v1/traces').flatMap((r) => r.json.resourceSpans.flatMap((rs: { scopeSpans: { spans: OtlpSpan[] }[] }) => rs.scopeSpans.flatMap((ss) => ss.spans)));
      const mine = all.filter((s: OtlpSpan) => s.traceId === traceId);
      const names = mine.map((s: OtlpSpan) => s.name);
      return ['publish hook', 'function step-a', 'function step-b', 'HTTP POST'].every((n) => names.includes(n)) && mine;
    }, 'the spans of the trace', 15_000);
    const byName = (name: string) => spans.find((s: OtlpSpan) => s.name === name)!;
    expect(byName('publish hook').parentSpanId).toBe('00f067aa0ba902b7');
    expect(byName('function step-a').parentSpanId).toBe(byName('publish hook').spanId);
    expect(byName('function step-b').parentSpanId).toBe(byName('function step-a').spanId);
    expect(byName('HTTP POST').parentSpanId).toBe(byName('function step-b').spanId);
  } finally {
    await t.close();
    await collector.close();
    await backend.close();
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  }
});
