// The per-route request metrics: what the hot path records (batched counters, histogram children resolved once)
// comes out of the registry as labelled Prometheus series.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { registry, routeMetrics } from '../../../../core/telemetry/metrics.js';

/** The value of the one series of `text` whose line starts with `prefix` and carries every `labels` pair. */
function series(text: string, prefix: string, labels: string[]): number[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(prefix) && labels.every((pair) => l.includes(pair)))
    .map((l) => Number(l.split(' ').pop()));
}

test('route metrics: durations land in the labelled histogram, statuses in the labelled counter', async () => {
  const labels = ['tier="unit"', 'route="r1"', 'service="s1"'];
  const m = routeMetrics('unit', 'r1', 's1');
  m.observe(200, 0.0003);
  m.observe(204, 0.0004);
  m.observe(503, 0.02);
  assert.equal(routeMetrics('unit', 'r1', 's1'), m, 'one set of children per label set');
  routeMetrics('unit', 'r2', 's1').observe(200, 7);

  const histogram = await registry.getSingleMetricAsString('meshgate_request_duration_seconds');
  assert.deepEqual(series(histogram, 'meshgate_request_duration_seconds_bucket', [...labels, 'le="0.00025"']), [0]);
  assert.deepEqual(series(histogram, 'meshgate_request_duration_seconds_bucket', [...labels, 'le="0.0005"']), [2]);
  assert.deepEqual(series(histogram, 'meshgate_request_duration_seconds_bucket', [...labels, 'le="0.025"']), [3]);
  assert.deepEqual(series(histogram, 'meshgate_request_duration_seconds_bucket', [...labels, 'le="+Inf"']), [3]);
  assert.deepEqual(series(histogram, 'meshgate_request_duration_seconds_count', labels), [3]);
  const [sum] = series(histogram, 'meshgate_request_duration_seconds_sum', labels);
  assert.ok(Math.abs(sum - 0.0207) < 1e-9, String(sum));
  assert.deepEqual(series(histogram, 'meshgate_request_duration_seconds_count', ['route="r2"']), [1]);

  const counter = await registry.getSingleMetricAsString('meshgate_requests_total');
  assert.deepEqual(series(counter, 'meshgate_requests_total', [...labels, 'status_class="2xx"']), [2]);
  assert.deepEqual(series(counter, 'meshgate_requests_total', [...labels, 'status_class="5xx"']), [1]);
});
