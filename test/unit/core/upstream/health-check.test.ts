import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { HealthChecks } from '../../../../core/upstream/health-check.js';
import { NO_ENDPOINTS } from '../../../../core/upstream/endpoints.js';
import { PoolSet } from '../../../../core/upstream/pool.js';
import { startFakeUpstream } from '../../../support/fake-upstream.js';
import { layerSnapshot } from '../../../support/layer-exchange.js';
import type { CompiledSnapshot } from '../../../../core/config/compile.js';

/** Health checks on a clock the test moves: each round probes what is due, waits for the answers, then moves 1 s on. */
function probing(snapshot: CompiledSnapshot, pools: PoolSet) {
  const clock = { t: 0 };
  const checks = new HealthChecks({ snapshot: () => snapshot, endpoints: NO_ENDPOINTS, pools, tickMs: 60_000, now: () => clock.t });
  const round = async () => {
    checks.tick();
    await checks.settled();
    clock.t += 1_000;
  };
  return { checks, clock, round };
}

test('failed probes take an endpoint out after the unhealthy threshold; good ones bring it back', async () => {
  const a = await startFakeUpstream('a', 'ok');
  const b = await startFakeUpstream('b', 'ok');
  const pools = new PoolSet();
  const snapshot = layerSnapshot({
    endpoints: [a.address, b.address],
    healthCheck: { path: '/healthz', interval: '1s', timeout: '500ms', unhealthyThreshold: 2, healthyThreshold: 2 },
  });
  const { checks, clock, round } = probing(snapshot, pools);
  try {
    await round();
    assert.equal(a.received.at(-1)?.path, '/healthz');
    assert.equal(checks.excluded(a.address), false);

    await a.setMode('error', { status: 503 });
    await round();
    assert.equal(checks.excluded(a.address), false, 'one failure is under the threshold');
    await round();
    assert.equal(checks.excluded(a.address), true);
    assert.equal(checks.excluded(b.address), false);

    await a.setMode('ok');
    checks.tick();
    await checks.settled();
    const probed = a.received.length;
    checks.tick(); // same instant: the next probe is not due yet
    await checks.settled();
    assert.equal(a.received.length, probed);
    clock.t += 1_000;
    assert.equal(checks.excluded(a.address), true, 'one success is under the healthy threshold');
    await round();
    assert.equal(checks.excluded(a.address), false);

    await a.setMode('refuse');
    await round();
    await round();
    assert.equal(checks.excluded(a.address), true, 'refused connections fail the check too');
  } finally {
    await pools.close();
    await a.close();
    await b.close();
  }
});

test('a probe answered well within its timeout passes; one past it fails', async () => {
  // Before: the probe was timed by undici's headersTimeout, on fast timers that fire up to ~0.5 s early, so an
  // endpoint answering in 700 ms on a 990 ms timeout failed some of its checks.
  let delayMs = 700;
  const server = http.createServer((req, res) => void setTimeout(() => res.end('ok'), req.url === '/other' ? 30_000 : delayMs).unref());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const pools = new PoolSet();
  const snapshot = layerSnapshot({
    endpoints: [address, '127.0.0.1:1'],
    healthCheck: { path: '/healthz', interval: '1s', timeout: '990ms', unhealthyThreshold: 1, healthyThreshold: 1 },
  });
  const { checks, round } = probing(snapshot, pools);
  // Another request in flight on the pool keeps undici's fast-timer clock ticking on its own phase, as on a busy node.
  const pending = pools.get(address).request({ path: '/other', method: 'GET', headersTimeout: 60_000 }).catch(() => undefined);
  try {
    for (let i = 0; i < 5; i++) {
      await round();
      assert.equal(checks.excluded(address), false, `probe ${i + 1} answered in 700 ms`);
    }
    delayMs = 1_500;
    await round();
    assert.equal(checks.excluded(address), true, 'an answer after 1.5 s fails a 990 ms check');
  } finally {
    server.closeAllConnections();
    await pending;
    await pools.close();
    server.close();
  }
});
