// Unit tests for the GCRA token buckets: admission, refill, burst, check/commit split and the LRU memory bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BucketResult, TokenBuckets, bucketPrefix, bucketShape } from '../../../../core/quota/token-buckets.js';

test('admits capacity requests at once, then refuses with the time to the next token', () => {
  const buckets = new TokenBuckets({ maxKeys: 100 });
  const shape = bucketShape(5, 10_000, undefined); // 5 per 10 s → one token every 2 s
  const out = new BucketResult();
  const remaining: number[] = [];
  for (let i = 0; i < 5; i++) {
    assert.equal(buckets.take('k', shape, 1000, out).allowed, true);
    remaining.push(out.remaining);
  }
  assert.deepEqual(remaining, [4, 3, 2, 1, 0]);
  assert.equal(out.resetMs, 10_000);
  buckets.take('k', shape, 1000, out);
  assert.equal(out.allowed, false);
  assert.equal(out.retryAfterMs, 2000);
  assert.equal(out.remaining, 0);
});

test('refills at limit per window', () => {
  const buckets = new TokenBuckets({ maxKeys: 100 });
  const shape = bucketShape(5, 10_000, undefined);
  const out = new BucketResult();
  for (let i = 0; i < 5; i++) buckets.take('k', shape, 0, out);
  assert.equal(buckets.take('k', shape, 1999, out).allowed, false);
  assert.equal(buckets.take('k', shape, 2000, out).allowed, true);
  assert.equal(out.remaining, 0);
  assert.equal(buckets.take('k', shape, 2000, out).allowed, false);
  // After a full window idle the bucket is full again.
  assert.equal(buckets.take('k', shape, 20_000, out).allowed, true);
  assert.equal(out.remaining, 4);
});

test('burst sets the capacity independently of the rate', () => {
  const buckets = new TokenBuckets({ maxKeys: 100 });
  const shape = bucketShape(10, 1000, 2); // 10/s, at most 2 at once
  const out = new BucketResult();
  assert.equal(buckets.take('k', shape, 0, out).allowed, true);
  assert.equal(buckets.take('k', shape, 0, out).allowed, true);
  assert.equal(buckets.take('k', shape, 0, out).allowed, false);
  assert.equal(out.retryAfterMs, 100);
  assert.equal(buckets.take('k', shape, 100, out).allowed, true);
});

test('keys are independent', () => {
  const buckets = new TokenBuckets({ maxKeys: 100 });
  const shape = bucketShape(1, 1000, undefined);
  const out = new BucketResult();
  assert.equal(buckets.take('a', shape, 0, out).allowed, true);
  assert.equal(buckets.take('a', shape, 0, out).allowed, false);
  assert.equal(buckets.take('b', shape, 0, out).allowed, true);
});

test('check does not spend; commit does', () => {
  const buckets = new TokenBuckets({ maxKeys: 100 });
  const shape = bucketShape(1, 1000, undefined);
  const out = new BucketResult();
  for (let i = 0; i < 3; i++) assert.equal(buckets.check('k', shape, 0, out).allowed, true);
  buckets.commit('k', out);
  assert.equal(buckets.check('k', shape, 0, out).allowed, false);
});

test('refund gives back one spent token, never more than a full bucket, nothing for a key it never saw', () => {
  const buckets = new TokenBuckets({ maxKeys: 100 });
  const shape = bucketShape(3, 60_000, undefined); // one token every 20 s
  const out = new BucketResult();
  for (let i = 0; i < 3; i++) buckets.take('k', shape, 0, out);
  assert.equal(buckets.check('k', shape, 0, out).allowed, false);
  buckets.refund('k', shape);
  assert.equal(buckets.take('k', shape, 0, out).allowed, true);
  assert.equal(out.remaining, 0);
  // Refunds past what was spent stop at a full bucket: three tokens, not five.
  for (let i = 0; i < 5; i++) buckets.refund('k', shape);
  const admitted = [0, 1, 2, 3].filter(() => buckets.take('k', shape, 0, out).allowed).length;
  assert.equal(admitted, 3);
  buckets.refund('never seen', shape);
  assert.equal(buckets.size, 1);
});

/** Fill to the bound, touch k0, add one more: the least recently used key (k1) goes, everything else stays. */
function assertLeastRecentlyUsedGoes(maxKeys: number): void {
  const buckets = new TokenBuckets({ maxKeys });
  const shape = bucketShape(1, 60_000, undefined);
  const out = new BucketResult();
  for (let i = 0; i < maxKeys; i++) buckets.take(`k${i}`, shape, 0, out);
  assert.equal(buckets.size, maxKeys);
  // Touch k0 so k1 is the least recently used.
  assert.equal(buckets.take('k0', shape, 0, out).allowed, false);
  const stride = Math.max(1, Math.floor(maxKeys / 70));
  for (let i = 2; i < maxKeys; i += stride) assert.equal(buckets.check(`k${i}`, shape, 0, out).allowed, false, `k${i} kept its spent bucket`);
  buckets.take('one more', shape, 0, out);
  assert.equal(buckets.size, maxKeys);
  assert.equal(buckets.take('k0', shape, 0, out).allowed, false, 'k0 was recently used and is kept');
  assert.equal(buckets.take('k1', shape, 0, out).allowed, true, 'k1 was evicted, so its bucket is full again');
  for (let i = 0; i < 900; i++) buckets.take(`flood${i}`, shape, 0, out);
  assert.equal(buckets.size, maxKeys);
}

test('holds at most maxKeys keys; the least recently used is forgotten (its bucket restarts full)', () => {
  assertLeastRecentlyUsedGoes(16);
});

test('the index grows with its keys up to a large bound (nothing preallocated) and still forgets the least recently used', () => {
  assertLeastRecentlyUsedGoes(70_000);
});

test('the slab grows past its initial size and keeps every key distinct', () => {
  const buckets = new TokenBuckets({ maxKeys: 5000 });
  const shape = bucketShape(1, 60_000, undefined);
  const out = new BucketResult();
  for (let i = 0; i < 5000; i++) assert.equal(buckets.take(`k${i}`, shape, 0, out).allowed, true);
  for (let i = 0; i < 5000; i++) assert.equal(buckets.take(`k${i}`, shape, 0, out).allowed, false);
  assert.equal(buckets.size, 5000);
});

test('bucketPrefix is stable for a policy shape and changes with it', () => {
  const a = bucketPrefix('r.0', 5, 1000, undefined);
  assert.equal(bucketPrefix('r.0', 5, 1000, undefined), a);
  assert.notEqual(bucketPrefix('r.0', 6, 1000, undefined), a);
  assert.notEqual(bucketPrefix('r.1', 5, 1000, undefined), a);
  assert.ok(a.endsWith('\u0000'));
});

test('a very high limit never reports more remaining than its capacity, nor admits past it', () => {
  const buckets = new TokenBuckets();
  const shape = bucketShape(1_000_000_000, 1_000, undefined);
  const out = new BucketResult();
  buckets.take('k', shape, 5_000, out);
  assert.equal(out.allowed, true);
  assert.equal(out.remaining, 999_999_999);
  const small = bucketShape(3, 1_000, undefined);
  for (let i = 0; i < 3; i++) assert.equal(buckets.take('s', small, 5_000, out).allowed, true);
  assert.equal(buckets.take('s', small, 5_000, out).allowed, false);
});
