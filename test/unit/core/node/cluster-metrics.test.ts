// The primary's merge of its workers' metrics: counters and histograms summed, each gauge by its aggregator, and a
// dead worker's counters and histograms (never its gauges) kept, so a replacement starting at zero lowers nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import client from 'prom-client';
import { ClusterMetricsBook, type MetricsJson } from '../../../../core/node/cluster-metrics.js';

/** One worker's registry as it hands it over: `requests` counted, `observed` latencies, two gauges. */
async function workerMetrics(o: { requests: number; observed: number[]; state: number; held: number }): Promise<MetricsJson> {
  const registry = new client.Registry();
  const registers = [registry];
  const requests = new client.Counter({ name: 't_requests_total', help: 'h', labelNames: ['route'] as const, registers });
  if (o.requests) requests.inc({ route: 'r' }, o.requests);
  const latency = new client.Histogram({ name: 't_seconds', help: 'h', buckets: [0.1, 1], registers });
  for (const v of o.observed) latency.observe(v);
  new client.Gauge({ name: 't_state', help: 'h', aggregator: 'max', registers }).set(o.state);
  new client.Gauge({ name: 't_held', help: 'h', registers }).set(o.held); // no aggregator: summed
  return registry.getMetricsAsJSON();
}

async function read(registry: client.Registry): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await registry.metrics()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return out;
}

test('live workers: counters and histograms summed, a gauge by its aggregator (or summed)', async () => {
  const book = new ClusterMetricsBook();
  const a = book.collected(1, await workerMetrics({ requests: 5, observed: [0.05, 0.5], state: 2, held: 3 }));
  const b = book.collected(2, await workerMetrics({ requests: 3, observed: [0.05], state: 0, held: 4 }));
  const m = await read(book.merge([a, b]));
  assert.equal(m['t_requests_total{route="r"}'], 8);
  assert.equal(m['t_seconds_count'], 3);
  assert.equal(m['t_seconds_bucket{le="0.1"}'], 2);
  assert.equal(m['t_state'], 2, "'max': one open breaker is the node's state");
  assert.equal(m['t_held'], 7);
});

test('a replaced worker: its counters and histograms stay in the sum, its gauges do not', async () => {
  const book = new ClusterMetricsBook();
  book.collected(1, await workerMetrics({ requests: 5, observed: [0.05, 0.5], state: 2, held: 3 }));
  const b = book.collected(2, await workerMetrics({ requests: 3, observed: [0.05], state: 0, held: 4 }));
  const before = await read(book.merge([book.stale(1), b]));
  book.retire(1);
  // The replacement in the slot starts from zero.
  const c = book.collected(3, await workerMetrics({ requests: 0, observed: [], state: 0, held: 1 }));
  const after = await read(book.merge([b, c]));
  assert.equal(after['t_requests_total{route="r"}'], 8, 'no drop: Prometheus would read a counter reset');
  assert.ok(after['t_requests_total{route="r"}'] >= before['t_requests_total{route="r"}']);
  assert.equal(after['t_seconds_count'], 3);
  assert.equal(after['t_seconds_bucket{le="+Inf"}'], 3);
  assert.equal(after['t_state'], 0, 'the dead worker\'s open breaker is gone with it');
  assert.equal(after['t_held'], 5, 'the dead worker\'s gauge is not carried');
  // The replacement counts on from there.
  const c2 = book.collected(3, await workerMetrics({ requests: 2, observed: [2], state: 1, held: 1 }));
  assert.equal((await read(book.merge([b, c2])))['t_requests_total{route="r"}'], 10);
});

test('a live worker that does not answer adds its last counters, not its gauges', async () => {
  const book = new ClusterMetricsBook();
  book.collected(1, await workerMetrics({ requests: 5, observed: [0.05], state: 2, held: 3 }));
  const b = book.collected(2, await workerMetrics({ requests: 3, observed: [], state: 0, held: 4 }));
  const m = await read(book.merge([book.stale(1), b]));
  assert.equal(m['t_requests_total{route="r"}'], 8);
  assert.equal(m['t_seconds_count'], 1);
  assert.equal(m['t_state'], 0);
  assert.equal(m['t_held'], 4);
  assert.deepEqual(book.stale(9), [], 'a worker never collected adds nothing');
});

test('many replacements: the retired sets are folded, the sums unchanged', async () => {
  const book = new ClusterMetricsBook();
  for (let id = 1; id <= 5; id++) {
    book.collected(id, await workerMetrics({ requests: id, observed: [0.05], state: 0, held: 1 }));
    book.retire(id);
    await tick();
  }
  book.retire(42); // never collected: nothing to keep
  const live = book.collected(6, await workerMetrics({ requests: 0, observed: [], state: 0, held: 1 }));
  const m = await read(book.merge([live]));
  assert.equal(m['t_requests_total{route="r"}'], 15);
  assert.equal(m['t_seconds_count'], 5);
  assert.equal(m['t_held'], 1);
});
