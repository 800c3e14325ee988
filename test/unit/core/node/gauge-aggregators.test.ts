// Every meshgate gauge says how --workers merges it (prom-client's `aggregator`): a state, a version, a mirrored
// count is the same on every worker and summing it is wrong (edge --workers 2 showed config version 2 for version 1,
// store_connected 2, twice the keys and revocations). Only gauges whose per-worker values add up are summed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import client from 'prom-client';
import { registry } from '../../../../core/telemetry/metrics.js';
// The modules that declare the node's gauges.
import '../../../../core/config/config-watch.js';
import '../../../../core/auth/revocation-list.js';
import '../../../../core/auth/key-set.js';
import '../../../../core/store/etcd-store.js';
import '../../../../core/upstream/breaker.js';
import '../../../../core/quota/quota-metrics.js';

/** Held per worker process: the sum over workers is what the node holds. */
const ADDITIVE = new Set(['meshgate_quota_keys']);

test('no meshgate gauge is summed over workers unless its per-worker values add up', async () => {
  const gauges = (await registry.getMetricsAsJSON()).filter((m) => m.name.startsWith('meshgate_') && String(m.type) === 'gauge');
  assert.ok(gauges.length >= 9, `found ${gauges.map((g) => g.name).join(', ')}`);
  for (const gauge of gauges) {
    const aggregator = (gauge as { aggregator?: string }).aggregator ?? 'sum';
    if (ADDITIVE.has(gauge.name)) assert.equal(aggregator, 'sum', gauge.name);
    else assert.notEqual(aggregator, 'sum', `${gauge.name} would be summed over workers`);
  }
  // And the merge prom-client does with them: two workers at version 7 are a node at version 7.
  const version = new client.Registry();
  new client.Gauge({ name: 'v', help: 'h', aggregator: gauges.find((g) => g.name === 'meshgate_config_version')!.aggregator, registers: [version] }).set(7);
  const json = await version.getMetricsAsJSON();
  const merged = client.AggregatorRegistry.aggregate([json, json]);
  assert.match(await merged.metrics(), /^v 7$/m);
});
