// The per-route request metrics: what the hot path records (batched counters, histogram children resolved once)
// comes out of the registry as labelled Prometheus series.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchedHistogram, client, registry, routeMetrics } from '../../../../core/telemetry/metrics.js';

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

  // Durations by status class too, as the contract says of both metrics (the histogram had no status_class).
  const histogram = await registry.getSingleMetricAsString('meshgate_request_duration_seconds');
  const ok = [...labels, 'status_class="2xx"'];
  const failed = [...labels, 'status_class="5xx"'];
  assert.deepEqual(series(histogram, 'meshgate_request_duration_seconds_bucket', [...ok, 'le="0.00025"']), [0]);
  assert.deepEqual(series(histogram, 'meshgate_request_duration_seconds_bucket', [...ok, 'le="0.0005"']), [2]);
  assert.deepEqual(series(histogram, 'meshgate_request_duration_seconds_bucket', [...ok, 'le="+Inf"']), [2]);
  assert.deepEqual(series(histogram, 'meshgate_request_duration_seconds_bucket', [...failed, 'le="0.025"']), [1]);
  assert.deepEqual(series(histogram, 'meshgate_request_duration_seconds_count', ok), [2]);
  assert.deepEqual(series(histogram, 'meshgate_request_duration_seconds_count', failed), [1]);
  assert.deepEqual(series(histogram, 'meshgate_request_duration_seconds_count', [...labels, 'status_class="4xx"']), [], 'no series for a class never seen');
  const [sum] = series(histogram, 'meshgate_request_duration_seconds_sum', ok);
  assert.ok(Math.abs(sum - 0.0007) < 1e-9, String(sum));
  assert.deepEqual(series(histogram, 'meshgate_request_duration_seconds_count', ['route="r2"']), [1]);

  const counter = await registry.getSingleMetricAsString('meshgate_requests_total');
  assert.deepEqual(series(counter, 'meshgate_requests_total', [...labels, 'status_class="2xx"']), [2]);
  assert.deepEqual(series(counter, 'meshgate_requests_total', [...labels, 'status_class="5xx"']), [1]);
});

/** Every sample line of an exposition as "name{sorted labels}" → value, so label order does not matter. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = (m[2] ?? '').split(',').filter(Boolean).sort().join(',');
    out.set(`${m[1]}{${labels}}`, Number(m[3]));
  }
  return out;
}

test('BatchedHistogram reports what a prom-client Histogram reports for the same observations, and aggregates across workers', async () => {
  const buckets = [0.001, 0.01, 0.1];
  const values = [0, 0.0005, 0.001, 0.0011, 0.01, 0.05, 0.1, 0.1000001, 3, 42];
  const theirs = new client.Registry();
  const reference = new client.Histogram({ name: 'h_seconds', help: 'h', labelNames: ['route', 'tier'], buckets, registers: [theirs] });
  const ours = new client.Registry();
  const batched = new BatchedHistogram('h_seconds', 'h', ['route', 'tier'] as const, buckets, ours);
  for (const [route, tier] of [['a', 'x'], ['b', 'x']]) {
    const child = batched.labels({ route, tier });
    assert.equal(batched.labels({ route, tier }), child, 'one child per label set');
    for (const v of route === 'a' ? values : values.slice(3)) {
      reference.observe({ route, tier }, v);
      child.observe(v);
    }
  }
  const expected = samples(await theirs.metrics());
  const got = samples(await ours.metrics());
  assert.equal(got.size, 2 * (buckets.length + 3));
  assert.deepEqual(got, expected);
  assert.match(await ours.metrics(), /# TYPE h_seconds histogram/);

  // --workers: the primary sums each worker's registry with prom-client's AggregatorRegistry.
  const aggregated = client.AggregatorRegistry.aggregate([await ours.getMetricsAsJSON(), await ours.getMetricsAsJSON()]);
  const summed = samples(await aggregated.metrics());
  for (const [series, value] of expected) assert.equal(summed.get(series), value * 2, series);

  batched.reset();
  batched.labels({ route: 'a', tier: 'x' }).observe(0.002);
  const after = samples(await ours.metrics());
  assert.equal(after.get('h_seconds_count{route="a",tier="x"}'), 1, 'reset zeroes; the held child still counts');
  assert.equal(after.get('h_seconds_bucket{le="0.01",route="a",tier="x"}'), 1);
  assert.equal(after.get('h_seconds_count{route="b",tier="x"}'), 0);
});
