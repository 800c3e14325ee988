import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { BreakerSet, circuitBreaker } from '../../../../core/upstream/breaker.js';
import { errors as undiciErrors } from 'undici';
import { UpstreamFailure, compose, upstreamError, type Upstream } from '../../../../core/upstream/upstream.js';
import { deadline } from '../../../../core/upstream/deadline.js';
import { MeshError } from '../../../../core/errors.js';
import { registry } from '../../../../core/telemetry/metrics.js';
import { layerExchange, layerSnapshot, response } from '../../../support/layer-exchange.js';

const cb = { errorThresholdPercentage: 50, volumeThreshold: 4, resetTimeout: '50ms' };

/** opossum's reset timer is unref'd: hold the loop open while waiting for its event. */
async function halfOpened(breaker: NodeJS.EventEmitter): Promise<void> {
  const keep = setInterval(() => {}, 1_000);
  try {
    await once(breaker, 'halfOpen');
  } finally {
    clearInterval(keep);
  }
}

async function gauge(tier: string): Promise<number | undefined> {
  const metric = await registry.getSingleMetric('meshgate_breaker_state')!.get();
  return metric.values.find((v) => v.labels.tier === tier && v.labels.service === 'svc')?.value;
}

test('a 5xx storm opens the breaker, it half-opens after the reset timeout, and a good probe closes it', async () => {
  const breakers = new BreakerSet('unit-a');
  let status = 503;
  let calls = 0;
  const next: Upstream = () => {
    calls++;
    return Promise.resolve(response(status));
  };
  const layer = circuitBreaker(breakers)(next);
  const snapshot = layerSnapshot({ circuitBreaker: cb });
  // Below the volume threshold the 5xx answers pass through as they are.
  for (let i = 0; i < 4; i++) assert.equal((await layer(layerExchange(snapshot))).status, 503);
  assert.equal(breakers.state('svc'), 'open');
  assert.equal(await gauge('unit-a'), 2);
  const before = calls;
  await assert.rejects(layer(layerExchange(snapshot)), (e: unknown) => e instanceof MeshError && e.code === 'breaker_open' && e.status === 503);
  assert.equal(calls, before, 'an open breaker does not call upstream');

  const breaker = breakers.for('svc', snapshot.services.get('svc')!.circuitBreaker);
  await halfOpened(breaker);
  assert.equal(breakers.state('svc'), 'half-open');
  assert.equal(await gauge('unit-a'), 1);
  status = 200;
  assert.equal((await layer(layerExchange(snapshot))).status, 200);
  assert.equal(breakers.state('svc'), 'closed');
  assert.equal(await gauge('unit-a'), 0);
  assert.deepEqual(breakers.states(), { svc: 'closed' });
  breakers.shutdown();
});

test('a failed half-open probe opens it again', async () => {
  const breakers = new BreakerSet('unit-b');
  const layer = circuitBreaker(breakers)(() => Promise.resolve(response(502)));
  const snapshot = layerSnapshot({ circuitBreaker: cb });
  for (let i = 0; i < 4; i++) await layer(layerExchange(snapshot));
  const breaker = breakers.for('svc', snapshot.services.get('svc')!.circuitBreaker);
  await halfOpened(breaker);
  assert.equal((await layer(layerExchange(snapshot))).status, 502);
  assert.equal(breakers.state('svc'), 'open');
  breakers.shutdown();
});

test('mesh refusals (pool full) do not count against the upstream', async () => {
  const breakers = new BreakerSet('unit-c');
  const layer = circuitBreaker(breakers)(() => Promise.reject(new MeshError('overloaded')));
  const snapshot = layerSnapshot({ circuitBreaker: cb });
  for (let i = 0; i < 10; i++) await assert.rejects(layer(layerExchange(snapshot)), (e: unknown) => (e as MeshError).code === 'overloaded');
  assert.equal(breakers.state('svc'), 'closed');
  breakers.shutdown();
});

test('the breaker counts calls without keeping a latency per call (no sort of the window per bucket or failure)', async () => {
  const breakers = new BreakerSet('unit-d');
  let status = 200;
  const layer = circuitBreaker(breakers)(() => Promise.resolve(response(status)));
  const snapshot = layerSnapshot({ circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 1_000 } });
  for (let i = 0; i < 2_000; i++) {
    status = i % 4 === 0 ? 503 : 200;
    await layer(layerExchange(snapshot));
  }
  const stats = breakers.for('svc', snapshot.services.get('svc')!.circuitBreaker).stats;
  assert.equal(stats.fires, 2_000);
  assert.equal(stats.failures, 500);
  assert.equal(breakers.state('svc'), 'closed', '25% failures stay under the 50% threshold');
  assert.deepEqual(stats.latencyTimes, []);
  breakers.shutdown();
});

test('a request undici refuses to send (the mesh built a bad header) is a 500 that does not open the breaker', async () => {
  const breakers = new BreakerSet('unit-refused');
  const layer = circuitBreaker(breakers)(() => Promise.reject(upstreamError(new undiciErrors.InvalidArgumentError('invalid x-auth-subject header'))));
  const snapshot = layerSnapshot({ circuitBreaker: cb });
  for (let i = 0; i < 8; i++) {
    await assert.rejects(layer(layerExchange(snapshot)), (e: unknown) => e instanceof MeshError && !(e instanceof UpstreamFailure) && e.code === 'internal' && e.status === 500);
  }
  assert.equal(breakers.state('svc'), 'closed');
  breakers.shutdown();
});

test('timeouts of a client that asked for less time than the route allows do not open the breaker', async () => {
  // Before: ten requests with `x-request-timeout-ms: 20` on a healthy but 1.5 s service opened its breaker, and
  // every other client got 503 breaker_open until the reset timeout.
  const breakers = new BreakerSet('unit-callers');
  let answer504 = false;
  const timeout = () => upstreamError(Object.assign(new Error('no response head within the time limit'), { name: 'TimeoutError' }));
  const layer = compose([deadline(), circuitBreaker(breakers)], () => (answer504 ? Promise.resolve(response(504)) : Promise.reject(timeout())));
  const snapshot = layerSnapshot({ circuitBreaker: cb });
  const callers = () => {
    const x = layerExchange(snapshot, { budgetMs: 20 });
    x.deadlineIsCallers = true;
    return x;
  };
  for (let i = 0; i < 6; i++) await assert.rejects(layer(callers()), (e: unknown) => e instanceof MeshError && e.code === 'deadline_exceeded');
  answer504 = true; // the next hop ran out of the budget it was told
  for (let i = 0; i < 6; i++) assert.equal((await layer(callers())).status, 504);
  assert.equal(breakers.state('svc'), 'closed');
  // The same timeouts within the route's own deadline are the upstream's: they count.
  answer504 = false;
  for (let i = 0; i < 30 && breakers.state('svc') !== 'open'; i++) await layer(layerExchange(snapshot, { budgetMs: 20 })).catch(() => {});
  assert.equal(breakers.state('svc'), 'open');
  breakers.shutdown();
});

test('after a good probe closes it, a relapse reopens it within the volume threshold, whatever it refused while open', async () => {
  // Before: the calls refused while open stayed in opossum's window as fires and diluted the error rate: after an
  // outage that refused 40 calls, ~40 failing calls reached the service before the breaker reopened.
  const breakers = new BreakerSet('unit-relapse');
  let status = 503;
  let calls = 0;
  const layer = circuitBreaker(breakers)(() => {
    calls++;
    return Promise.resolve(response(status));
  });
  const snapshot = layerSnapshot({ circuitBreaker: cb });
  for (let i = 0; i < 4; i++) await layer(layerExchange(snapshot));
  assert.equal(breakers.state('svc'), 'open');
  for (let i = 0; i < 40; i++) await assert.rejects(layer(layerExchange(snapshot)));
  await halfOpened(breakers.for('svc', snapshot.services.get('svc')!.circuitBreaker));
  status = 200;
  await layer(layerExchange(snapshot));
  assert.equal(breakers.state('svc'), 'closed');
  status = 503;
  const before = calls;
  for (let i = 0; i < 50 && breakers.state('svc') === 'closed'; i++) await layer(layerExchange(snapshot));
  assert.equal(breakers.state('svc'), 'open');
  assert.ok(calls - before <= cb.volumeThreshold, `${calls - before} failing calls reached the service before it reopened`);
  breakers.shutdown();
});
