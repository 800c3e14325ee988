// How the mesh ends its spans, per the OTel HTTP semantic conventions: client spans are errors from 400, server
// spans from 500; a call that got no response has error.type and no made-up status code; server.address is the host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { endSpan, failSpan, setServerAddress } from '../../../../core/telemetry/tracing.js';

const exporter = new InMemorySpanExporter();
const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('test');

function ended(name: string, end: (span: ReturnType<typeof tracer.startSpan>) => void) {
  const span = tracer.startSpan(name);
  end(span);
  return exporter.getFinishedSpans().find((s) => s.name === name)!;
}

test('a client span is an error from 400, a server span from 500', () => {
  assert.equal(ended('client-404', (s) => endSpan(s, 404, true)).status.code, SpanStatusCode.ERROR);
  assert.equal(ended('server-404', (s) => endSpan(s, 404)).status.code, SpanStatusCode.UNSET);
  assert.equal(ended('server-503', (s) => endSpan(s, 503)).status.code, SpanStatusCode.ERROR);
  assert.equal(ended('client-200', (s) => endSpan(s, 200, true)).attributes['http.response.status_code'], 200);
});

test('a call with no response: error.type, no status code (it reported the 502 the mesh made up)', () => {
  const span = ended('refused', (s) => failSpan(s, 'upstream_failed'));
  assert.equal(span.attributes['error.type'], 'upstream_failed');
  assert.equal(span.attributes['http.response.status_code'], undefined);
  assert.equal(span.status.code, SpanStatusCode.ERROR);
});

test('server.address is the host alone, server.port the port; IPv6 without brackets', () => {
  const v4 = ended('v4', (s) => (setServerAddress(s, '127.0.0.1:8080'), s.end()));
  assert.deepEqual([v4.attributes['server.address'], v4.attributes['server.port']], ['127.0.0.1', 8080]);
  const v6 = ended('v6', (s) => (setServerAddress(s, '[::1]:15006'), s.end()));
  assert.deepEqual([v6.attributes['server.address'], v6.attributes['server.port']], ['::1', 15006]);
});
