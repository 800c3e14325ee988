// grpc-timeout: every unit of the gRPC over HTTP/2 spec read as milliseconds, malformed values ignored, and
// budgets written back in 8 digits at most.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grpcTimeout, grpcTimeoutMs } from '../../../../core/http/grpc-timeout.js';

test('every unit reads as milliseconds', () => {
  assert.equal(grpcTimeoutMs('2H'), 7_200_000);
  assert.equal(grpcTimeoutMs('3M'), 180_000);
  assert.equal(grpcTimeoutMs('5S'), 5_000);
  assert.equal(grpcTimeoutMs('100m'), 100);
  assert.equal(grpcTimeoutMs('2500u'), 2.5);
  assert.equal(grpcTimeoutMs('3000000n'), 3);
  assert.equal(grpcTimeoutMs('0m'), 0);
  assert.equal(grpcTimeoutMs('99999999S'), 99_999_999_000);
});

test('malformed, oversized or repeated values are ignored', () => {
  for (const bad of ['', '100', 'm', '1.5S', '-1S', '100ms', '123456789m', ' 1S', '1s', '1S ']) assert.equal(grpcTimeoutMs(bad), undefined, bad);
  assert.equal(grpcTimeoutMs(undefined), undefined);
  assert.equal(grpcTimeoutMs(['1S', '2S']), undefined);
});

test('a budget is written in whole milliseconds (at least 1), in seconds past 8 digits', () => {
  assert.equal(grpcTimeout(2_999.7), '2999m');
  assert.equal(grpcTimeout(0.3), '1m');
  assert.equal(grpcTimeout(99_999_999), '99999999m');
  assert.equal(grpcTimeout(100_000_000), '100000S');
  assert.equal(grpcTimeoutMs(grpcTimeout(123_456)), 123_456);
});
