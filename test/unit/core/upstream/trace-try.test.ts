// traceTries: a client span per try, named {method}, with the endpoint, resend_count on a retry, the try's own
// traceparent sent, error.type when no response came; nothing for an unsampled trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { traceTries } from '../../../../core/upstream/trace-try.js';
import { UpstreamFailure } from '../../../../core/upstream/upstream.js';
import { layerExchange, layerSnapshot, response } from '../../../support/layer-exchange.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
trace.setGlobalTracerProvider(provider);

test('each try is a client span of its own, and its traceparent names it', async () => {
  const sent: string[] = [];
  let fail = true;
  const layer = traceTries('unit')((x) => {
    sent.push(String(x.upstreamHeaders.traceparent));
    if (fail) return Promise.reject(new UpstreamFailure('upstream_failed', undefined, 'reset', x.upstreamAddress));
    return Promise.resolve(response(200));
  });
  const x = layerExchange(layerSnapshot());
  x.span = provider.getTracer('unit').startSpan('GET /r');
  x.upstreamAddress = '127.0.0.1:15006';
  x.attempts = 1;
  await assert.rejects(layer(x));
  fail = false;
  x.attempts = 2;
  x.upstreamAddress = '[::1]:15007';
  assert.equal((await layer(x)).status, 200);
  const tries = exporter.getFinishedSpans().filter((s) => s.attributes['meshgate.tier'] === 'unit');
  assert.equal(tries.length, 2);
  assert.deepEqual(tries.map((s) => s.name), ['GET', 'GET']);
  assert.deepEqual([tries[0].attributes['error.type'], tries[0].attributes['http.response.status_code']], ['upstream_failed', undefined]);
  assert.deepEqual([tries[1].attributes['http.request.resend_count'], tries[1].attributes['server.address'], tries[1].attributes['server.port']], [1, '::1', 15007]);
  for (const [i, s] of tries.entries()) {
    assert.equal(s.parentSpanContext?.spanId ?? (s as unknown as { parentSpanId?: string }).parentSpanId, x.span.spanContext().spanId);
    assert.equal(sent[i], `00-${s.spanContext().traceId}-${s.spanContext().spanId}-01`);
  }
});

test('an unsampled trace gets no client span and keeps the server span\'s traceparent', async () => {
  const before = exporter.getFinishedSpans().length;
  const layer = traceTries('unit')((x) => Promise.resolve(response(x.upstreamHeaders.traceparent === 'server' ? 200 : 500)));
  const x = layerExchange(layerSnapshot());
  x.upstreamHeaders.traceparent = 'server';
  assert.equal((await layer(x)).status, 200);
  assert.equal(exporter.getFinishedSpans().length, before);
});
