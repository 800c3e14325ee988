// route-match's deadline: the route's timeout, capped by the caller's budget from x-request-timeout-ms or
// grpc-timeout (the smaller wins); a spent caller budget is refused; a malformed one ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routeMatch } from '../../../../core/stages/route-match.js';
import { MeshError } from '../../../../core/errors.js';
import { layerExchange, layerSnapshot } from '../../../support/layer-exchange.js';

function matched(headers: Record<string, string>, routeTimeout = '10s') {
  const snapshot = layerSnapshot({}, { timeouts: { request: routeTimeout } });
  const stage = routeMatch.build({ route: undefined, snapshot, deps: {} })!;
  const x = layerExchange(snapshot, { headers });
  x.path = '/svc/call';
  return { x, verdict: stage.request!(x) };
}

/** The deadline route-match stamps (ms after the exchange started), or the error it returns. */
function deadline(headers: Record<string, string>, routeTimeout = '10s'): number | MeshError {
  const { x, verdict } = matched(headers, routeTimeout);
  if (verdict instanceof MeshError) return verdict;
  assert.equal(verdict, undefined);
  return Math.round(x.deadlineAt - x.startedAt);
}

test('no caller budget: the route timeout', () => {
  assert.equal(deadline({}), 10_000);
});

test('grpc-timeout caps the route timeout like x-request-timeout-ms; the smaller of the two wins', () => {
  assert.equal(deadline({ 'grpc-timeout': '250m' }), 250);
  assert.equal(deadline({ 'grpc-timeout': '2S' }), 2_000);
  assert.equal(deadline({ 'grpc-timeout': '1M' }), 10_000, 'never longer than the route allows');
  assert.equal(deadline({ 'grpc-timeout': '3S', 'x-request-timeout-ms': '1500' }), 1_500);
  assert.equal(deadline({ 'grpc-timeout': '700m', 'x-request-timeout-ms': '1500' }), 700);
});

test('a spent grpc-timeout is deadline_exceeded at once; a malformed one is ignored', () => {
  const spent = deadline({ 'grpc-timeout': '0S' });
  assert.ok(spent instanceof MeshError && spent.code === 'deadline_exceeded');
  assert.equal(deadline({ 'grpc-timeout': '5 seconds' }), 10_000);
  assert.equal(deadline({ 'grpc-timeout': 'oops', 'x-request-timeout-ms': '900' }), 900);
});

test('the deadline is marked as the caller\'s only when the caller\'s budget is the shorter one', () => {
  assert.equal(matched({ 'x-request-timeout-ms': '500' }).x.deadlineIsCallers, true);
  assert.equal(matched({ 'grpc-timeout': '1M' }).x.deadlineIsCallers, false);
  assert.equal(matched({}).x.deadlineIsCallers, false);
});
