// How a node run as several workers combines their readiness into the one /readyz answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combineReadiness } from '../../../../core/node/cluster-readiness.js';

const worker = (slot: number, notReady: string[]) => ({ slot, ready: notReady.length === 0, detail: { notReady, draining: notReady.includes('draining') } });

test('every worker ready: the node is ready, each worker listed', () => {
  const r = combineReadiness([worker(1, []), worker(2, [])]);
  assert.equal(r.ready, true);
  assert.deepEqual(r.detail?.notReady, []);
  assert.deepEqual((r.detail?.workers as { slot: number; ready: boolean }[]).map((w) => [w.slot, w.ready]), [[1, true], [2, true]]);
});

test('a worker that takes traffic but is not ready holds the node down, named with its reasons', () => {
  const r = combineReadiness([worker(1, []), worker(2, ['config', 'auth'])]);
  assert.equal(r.ready, false);
  assert.deepEqual(r.detail?.notReady, ['worker 2: config', 'worker 2: auth']);
});

test('a worker that does not answer counts as not ready', () => {
  const r = combineReadiness([worker(1, []), { slot: 2, ready: false, detail: { notReady: ['no answer'] } }]);
  assert.equal(r.ready, false);
  assert.deepEqual(r.detail?.notReady, ['worker 2: no answer']);
});

test('a worker starting or draining gets no connections: it is listed but does not hold the node down', () => {
  const r = combineReadiness([worker(1, []), worker(2, ['listeners', 'config']), worker(3, ['draining'])]);
  assert.equal(r.ready, true);
  assert.deepEqual(r.detail?.notReady, []);
  assert.equal((r.detail?.workers as unknown[]).length, 3);
});

test('no worker taking traffic: not ready', () => {
  assert.deepEqual(combineReadiness([worker(1, ['draining'])]).detail?.notReady, ['workers']);
  assert.deepEqual(combineReadiness([]).detail?.notReady, ['workers']);
  assert.equal(combineReadiness([]).ready, false);
});
