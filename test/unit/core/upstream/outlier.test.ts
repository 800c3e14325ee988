import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutlierDetector, outlierDetection } from '../../../../core/upstream/outlier.js';
import { UpstreamFailure, type Upstream } from '../../../../core/upstream/upstream.js';
import { MeshError } from '../../../../core/errors.js';
import { layerExchange, layerSnapshot, response } from '../../../support/layer-exchange.js';

const config = { consecutiveErrors: 3, baseEjectionTime: '10s', maxEjectionPercent: 50 };
const four = ['a:1', 'b:2', 'c:3', 'd:4'];

test('consecutive failures eject; a success in between resets the count', () => {
  const d = new OutlierDetector('test', () => 0);
  d.failure('svc', 'a:1', four, config);
  d.failure('svc', 'a:1', four, config);
  d.success('a:1');
  d.failure('svc', 'a:1', four, config);
  d.failure('svc', 'a:1', four, config);
  assert.equal(d.excluded('a:1'), false);
  d.failure('svc', 'a:1', four, config);
  assert.equal(d.excluded('a:1'), true);
});

test('an ejected endpoint returns after the interval, which grows with each ejection', () => {
  const clock = { t: 0 };
  const d = new OutlierDetector('test', () => clock.t);
  const eject = () => {
    for (let i = 0; i < 3; i++) d.failure('svc', 'a:1', four, config);
  };
  eject();
  clock.t = 9_999;
  assert.equal(d.excluded('a:1'), true);
  clock.t = 10_000;
  assert.equal(d.excluded('a:1'), false);
  eject(); // second time: 20 s
  clock.t = 10_000 + 19_999;
  assert.equal(d.excluded('a:1'), true);
  clock.t = 10_000 + 20_000;
  assert.equal(d.excluded('a:1'), false);
});

test('never more than maxEjectionPercent of endpoints, and never the last one', () => {
  const d = new OutlierDetector('test', () => 0);
  for (const a of four) for (let i = 0; i < 3; i++) d.failure('svc', a, four, config);
  assert.equal(four.filter((a) => d.excluded(a)).length, 2);
  const alone = new OutlierDetector('test', () => 0);
  for (let i = 0; i < 10; i++) alone.failure('svc', 'only:1', ['only:1'], config);
  assert.equal(alone.excluded('only:1'), false);
  const two = new OutlierDetector('test', () => 0);
  for (const a of ['a:1', 'b:2']) for (let i = 0; i < 3; i++) two.failure('svc', a, ['a:1', 'b:2'], { ...config, maxEjectionPercent: 10 });
  assert.equal(['a:1', 'b:2'].filter((a) => two.excluded(a)).length, 1); // at least one of two, never both
});

test('the layer counts 5xx answers and try failures, not mesh refusals', async () => {
  const d = new OutlierDetector('test', () => 0);
  const outcomes: (() => Promise<ReturnType<typeof response>>)[] = [
    () => Promise.reject(new MeshError('overloaded')),
    () => Promise.resolve(response(500)),
    () => Promise.reject(new UpstreamFailure('upstream_failed', undefined, 'reset', 'a:1')),
    () => Promise.reject(new MeshError('overloaded')),
    () => Promise.resolve(response(503)),
  ];
  let i = 0;
  const next: Upstream = () => outcomes[i++]();
  const snapshot = layerSnapshot({ endpoints: four, outlierDetection: config });
  const layer = outlierDetection(d, { list: () => [] })(next);
  for (let n = 0; n < outcomes.length; n++) {
    const x = layerExchange(snapshot);
    x.upstreamAddress = 'a:1';
    await layer(x).catch(() => {});
    if (n < 4) assert.equal(d.excluded('a:1'), false, `after ${n + 1}`);
  }
  assert.equal(d.excluded('a:1'), true);
});

test('a try limited by the caller\'s own budget that times out or gets a 504 does not count', async () => {
  const d = new OutlierDetector('test', () => 0);
  const snapshot = layerSnapshot({ endpoints: four, outlierDetection: config });
  let outcome: () => Promise<ReturnType<typeof response>> = () => Promise.reject(new UpstreamFailure('deadline_exceeded', undefined, 'timeout', 'a:1'));
  const layer = outlierDetection(d, { list: () => [] })(() => outcome());
  const run = async (callers: boolean) => {
    const x = layerExchange(snapshot);
    x.upstreamAddress = 'a:1';
    x.tryBoundByCaller = callers;
    await layer(x).catch(() => {});
  };
  for (let n = 0; n < 3; n++) await run(true);
  outcome = () => Promise.resolve(response(504));
  for (let n = 0; n < 3; n++) await run(true);
  assert.equal(d.excluded('a:1'), false);
  for (let n = 0; n < 3; n++) await run(false);
  assert.equal(d.excluded('a:1'), true, 'the same 504s within the route\'s deadline count');
});
