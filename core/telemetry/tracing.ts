// OpenTelemetry tracing: a server span per hop and a client span per upstream call, W3C trace context,
// exported over OTLP gRPC when OTEL_EXPORTER_OTLP_ENDPOINT is set. No context manager: spans are passed
// explicitly, so an unsampled request costs two id generations and nothing else.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, propagation, trace, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import type { IncomingHttpHeaders } from 'node:http';
import { logger } from './log.js';
import { splitHostPort } from '../http/host-port.js';

let provider: NodeTracerProvider | undefined;

export interface TracingOptions {
  serviceName: string;
  /** Share of new traces recorded (0..1); a sampled parent is always followed. */
  sampleRatio?: number;
}

/** Once per process. Exports only when OTEL_EXPORTER_OTLP_ENDPOINT is set; ids are generated either way. */
export function initTracing(options: TracingOptions): void {
  if (provider) return;
  const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const ratio = options.sampleRatio ?? Number(process.env.MESHGATE_TRACE_SAMPLE_RATIO ?? (endpoint ? 1 : 0));
  const spanProcessors: SpanProcessor[] = [];
  if (endpoint) spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 500 }));
  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME ?? options.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(endpoint ? ratio : 0) }),
    spanProcessors,
  });
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  if (endpoint) logger('tracing').info({ endpoint, ratio }, 'exporting traces over OTLP gRPC');
}

export async function shutdownTracing(): Promise<void> {
  await provider?.shutdown();
}

export async function flushTracing(): Promise<void> {
  await provider?.forceFlush();
}

const getter = {
  keys: (carrier: IncomingHttpHeaders) => Object.keys(carrier),
  get: (carrier: IncomingHttpHeaders, key: string) => carrier[key],
};

export function tracer(tier: string): Tracer {
  return trace.getTracer(`meshgate-${tier}`);
}

/**
 * A server span continuing the caller's trace when its traceparent is valid, else a new trace. No attributes at
 * start: the caller sets them only when the span records (most are sampled out and would build them for nothing).
 */
export function startServerSpan(t: Tracer, name: string, headers: IncomingHttpHeaders): Span {
  const parent = headers.traceparent ? propagation.extract(ROOT_CONTEXT, headers, getter) : ROOT_CONTEXT;
  return t.startSpan(name, { kind: SpanKind.SERVER }, parent);
}

export function startClientSpan(t: Tracer, name: string, parent: Span, attributes: Record<string, string | number>): Span {
  return t.startSpan(name, { kind: SpanKind.CLIENT, attributes }, trace.setSpan(ROOT_CONTEXT, parent));
}

/** The W3C traceparent of a span (RFC-less: W3C Trace Context §3.2). */
export function traceparentOf(span: Span): string {
  const c = span.spanContext();
  return `00-${c.traceId}-${c.spanId}-0${c.traceFlags & 1}`;
}

/**
 * End a span with the response status. OTel HTTP semantic conventions: a server span is an error from 500, a client
 * span from 400 (the request it sent failed).
 */
export function endSpan(span: Span | undefined, status: number, client = false): void {
  if (!span) return;
  if (span.isRecording()) {
    span.setAttribute('http.response.status_code', status);
    if (status >= (client ? 400 : 500)) span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/** End a client span whose call got no response: `error.type` names why; no status code is made up. */
export function failSpan(span: Span | undefined, errorType: string): void {
  if (!span) return;
  if (span.isRecording()) {
    span.setAttribute('error.type', errorType);
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/** `server.address` and `server.port` of a host:port (semantic conventions: the address is the host alone). */
export function setServerAddress(span: Span, address: string): void {
  const { host, port } = splitHostPort(address);
  span.setAttributes(port === undefined ? { 'server.address': host } : { 'server.address': host, 'server.port': port });
}

export { SpanKind };
