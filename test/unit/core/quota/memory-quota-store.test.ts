// Unit tests for the in-memory global store: fixed windows on one clock, partial grants, concurrent callers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryQuotaStore } from '../../../../core/quota/memory-quota-store.js';
import { invalidAcquire } from '../../../../core/quota/quota-store.js';

test('grants up to the limit per window, then 0 until the window ends', async () => {
  let now = 10_250;
  const store = new MemoryQuotaStore({ now: () => now });
  const req = { policy: 'p', key: 'k', limit: 10, windowMs: 1000, requested: 4 };
  assert.deepEqual(await store.acquire(req), { granted: 4, remaining: 6, resetMs: 750, windowStartMs: 10_000 });
  assert.deepEqual(await store.acquire(req), { granted: 4, remaining: 2, resetMs: 750, windowStartMs: 10_000 });
  assert.deepEqual(await store.acquire(req), { granted: 2, remaining: 0, resetMs: 750, windowStartMs: 10_000 });
  assert.equal((await store.acquire(req)).granted, 0);
  now = 10_999;
  assert.equal((await store.acquire(req)).granted, 0);
  now = 11_000;
  assert.deepEqual(await store.acquire(req), { granted: 4, remaining: 6, resetMs: 1000, windowStartMs: 11_000 });
});

test('keys and policies are counted apart', async () => {
  const store = new MemoryQuotaStore({ now: () => 0 });
  const base = { limit: 1, windowMs: 1000, requested: 1 };
  assert.equal((await store.acquire({ ...base, policy: 'p', key: 'a' })).granted, 1);
  assert.equal((await store.acquire({ ...base, policy: 'p', key: 'a' })).granted, 0);
  assert.equal((await store.acquire({ ...base, policy: 'p', key: 'b' })).granted, 1);
  assert.equal((await store.acquire({ ...base, policy: 'q', key: 'a' })).granted, 1);
});

test('concurrent callers never get more than the limit in total', async () => {
  const store = new MemoryQuotaStore({ now: () => 5 });
  const grants = await Promise.all(Array.from({ length: 50 }, () => store.acquire({ policy: 'p', key: 'k', limit: 100, windowMs: 60_000, requested: 7 })));
  assert.equal(grants.reduce((s, g) => s + g.granted, 0), 100);
});

test('invalid requests name the field', () => {
  const ok = { policy: 'route.0', key: 'k', limit: 5, windowMs: 1000, requested: 1 };
  assert.equal(invalidAcquire(ok), undefined);
  assert.match(invalidAcquire({ ...ok, policy: '' })!, /^policy/);
  assert.match(invalidAcquire({ ...ok, policy: 'a b' })!, /^policy/);
  assert.match(invalidAcquire({ ...ok, key: 'x'.repeat(1025) })!, /^key/);
  assert.match(invalidAcquire({ ...ok, limit: 0 })!, /^limit/);
  assert.match(invalidAcquire({ ...ok, windowMs: 0 })!, /^windowMs/);
  assert.match(invalidAcquire({ ...ok, requested: 6 })!, /^requested/);
  assert.match(invalidAcquire({ ...ok, requested: 0 })!, /^requested/);
});

test('next-window leases count against the next window, not the current one', async () => {
  let now = 20_900;
  const store = new MemoryQuotaStore({ now: () => now });
  const req = { policy: 'p', key: 'k', limit: 10, windowMs: 1000, requested: 4 };
  assert.deepEqual(await store.acquire({ ...req, nextWindow: true }), { granted: 4, remaining: 6, resetMs: 1100, windowStartMs: 21_000 });
  assert.deepEqual(await store.acquire(req), { granted: 4, remaining: 6, resetMs: 100, windowStartMs: 20_000 });
  now = 21_000;
  assert.deepEqual(await store.acquire(req), { granted: 4, remaining: 2, resetMs: 1000, windowStartMs: 21_000 });
  now = 22_000;
  assert.deepEqual(await store.acquire(req), { granted: 4, remaining: 6, resetMs: 1000, windowStartMs: 22_000 }, 'a slot from two windows ago counts as empty');
});
