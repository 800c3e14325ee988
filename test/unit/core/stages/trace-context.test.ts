// trace-context: traceparent continued when valid, replaced otherwise; tracestate kept only with a valid traceparent
// (W3C Trace Context §3.3.1); x-request-id kept when well formed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { traceContext } from '../../../../core/stages/trace-context.js';
import { initTracing } from '../../../../core/telemetry/tracing.js';
import { layerExchange, layerSnapshot } from '../../../support/layer-exchange.js';

// The SDK with its W3C propagator, no exporter (ids are generated; nothing is recorded).
initTracing({ serviceName: 'trace-context-test', sampleRatio: 0 });

function traced(headers: Record<string, string>) {
  const stage = traceContext.build({ route: undefined, snapshot: layerSnapshot(), deps: { tier: 'test' } })!;
  const x = layerExchange(layerSnapshot(), { headers });
  assert.equal(stage.request!(x), undefined);
  return x;
}

const PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

test('a valid traceparent is continued and its tracestate kept', () => {
  const x = traced({ traceparent: PARENT, tracestate: 'vendor=a' });
  assert.equal(x.span!.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(x.tracestate, 'vendor=a');
});

test('a tracestate without a traceparent, or with an invalid one, is discarded with it', () => {
  // Before: the app got a new traceparent together with the client's tracestate.
  for (const headers of [
    { tracestate: 'vendor=a' },
    { traceparent: '00-00000000000000000000000000000000-b7ad6b7169203331-01', tracestate: 'vendor=a' },
    { traceparent: PARENT.toUpperCase(), tracestate: 'vendor=a' },
    { traceparent: 'garbage', tracestate: 'vendor=a' },
  ]) {
    const x = traced(headers);
    assert.notEqual(x.span!.spanContext().traceId, '00000000000000000000000000000000');
    assert.equal(x.tracestate, undefined, JSON.stringify(headers));
  }
});

test('x-request-id: kept when well formed, replaced otherwise', () => {
  assert.equal(traced({ 'x-request-id': 'abc-123' }).requestId, 'abc-123');
  assert.match(traced({ 'x-request-id': 'bad id\u0001' }).requestId, /^[0-9a-f-]{36}$/);
});
