/**
 * OpenTelemetry tracing, on when OTEL_EXPORTER_OTLP_ENDPOINT is set: a webhook's incoming `traceparent`
 * (or a new trace) continues through the CloudEvent (the distributed-tracing extension) into the
 * worker's span, every outbound call and every emitted event. Lean: the trace SDK and OTLP over HTTP.
 */
import { context, INVALID_SPAN_CONTEXT, ROOT_CONTEXT, propagation, trace, type Context, type Span, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

let provider: NodeTracerProvider | undefined;

/** Starts the SDK once per process when the environment asks for it; without it, the SDK is not even loaded. */
export async function initTracing(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (provider || !env.OTEL_EXPORTER_OTLP_ENDPOINT) return;
  const [{ OTLPTraceExporter }, { resourceFromAttributes }, { BatchSpanProcessor, NodeTracerProvider }] = await Promise.all([
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace-node'),
  ]);
  if (provider) return;
  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME ?? 'switchboard' }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 200 })],
  });
  provider.register();
}

/** True once the SDK runs; hot paths skip building span names and attributes otherwise. */
export const tracingOn = (): boolean => provider !== undefined;

export async function flushTracing(): Promise<void> {
  await provider?.forceFlush();
}

const tracer = () => trace.getTracer('switchboard');

/** The context an event's `traceparent` (and `tracestate`) carries. */
export function eventContext(event: Record<string, unknown>): Context {
  if (!provider) return ROOT_CONTEXT;
  const carrier: Record<string, string> = {};
  if (typeof event.traceparent === 'string') carrier.traceparent = event.traceparent;
  if (typeof event.tracestate === 'string') carrier.tracestate = event.tracestate;
  return propagation.extract(context.active(), carrier);
}

/** The distributed-tracing extension for the span now active, if tracing is on. */
export function activeTraceExtension(): { traceparent: string; tracestate?: string } | undefined {
  if (!provider) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ? { traceparent: carrier.traceparent, ...(carrier.tracestate ? { tracestate: carrier.tracestate } : {}) } : undefined;
}

/** Runs `work` in a span (a no-op span when tracing is off), recording failures. */
export async function inSpan<T>(name: string, kind: SpanKind, parent: Context, attributes: Record<string, string | number>, work: (span: Span) => Promise<T>): Promise<T> {
  // Tracing off (the usual case on the hot path): no span, no context switch.
  if (!provider) return work(NO_SPAN);
  const span = tracer().startSpan(name, { kind, attributes }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => work(span));
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    span.end();
  }
}

const NO_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** Adds `traceparent` to outbound request headers from the active span. */
export function injectTraceHeaders(headers: Record<string, string>): void {
  if (!provider) return;
  propagation.inject(context.active(), headers);
}

export { SpanKind };
