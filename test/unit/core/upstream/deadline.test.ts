import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deadline } from '../../../../core/upstream/deadline.js';
import { poolLimit } from '../../../../core/upstream/pool-limit.js';
import type { Upstream } from '../../../../core/upstream/upstream.js';
import { MeshError } from '../../../../core/errors.js';
import { layerExchange, layerSnapshot, response } from '../../../support/layer-exchange.js';

const ok: Upstream = () => Promise.resolve(response(200));

test('each try tells the next hop min(remaining budget, per-try timeout)', async () => {
  const clock = { t: 0 };
  const layer = deadline(() => clock.t)(ok);
  const x = layerExchange(layerSnapshot({}, { timeouts: { backendRequest: '300ms' } }));
  x.deadlineAt = 1_000;
  await layer(x);
  assert.equal(x.upstreamHeaders['x-request-timeout-ms'], '300');
  assert.equal(x.perTryTimeoutMs, 300);
  clock.t = 850;
  await layer(x);
  assert.equal(x.upstreamHeaders['x-request-timeout-ms'], '150');
});

test('a spent budget fails at once without calling upstream', async () => {
  let called = false;
  const layer = deadline(() => 2_000)(() => ((called = true), ok({} as never)));
  const x = layerExchange(layerSnapshot());
  x.deadlineAt = 1_000;
  await assert.rejects(layer(x), (e: unknown) => e instanceof MeshError && e.status === 504);
  assert.equal(called, false);
});

test('no deadline: no header', async () => {
  const x = layerExchange(layerSnapshot());
  await deadline()(ok)(x);
  assert.equal(x.upstreamHeaders['x-request-timeout-ms'], undefined);
});

test('pool limit: beyond maxConnections + maxPending in flight → 503 overloaded; capacity returns when tries end', async () => {
  const held: (() => void)[] = [];
  const layer = poolLimit('unit')(() => new Promise((resolve) => held.push(() => resolve(response(200)))));
  const snapshot = layerSnapshot({ connectionPool: { maxConnections: 1, maxPending: 1 } });
  const exchange = () => Object.assign(layerExchange(snapshot), { upstreamAddress: 'a:1' });
  const first = [layer(exchange()), layer(exchange())];
  await assert.rejects(layer(exchange()), (e: unknown) => e instanceof MeshError && e.code === 'overloaded' && e.status === 503);
  // Another endpoint has its own pool.
  const other = layer(Object.assign(layerExchange(snapshot), { upstreamAddress: 'b:2' }));
  for (const release of held.splice(0)) release();
  await Promise.all([...first, other]);
  const again = layer(exchange());
  held[0]();
  assert.equal((await again).status, 200);
});
