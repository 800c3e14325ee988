// MemoryStore leases: a TTL longer than a timer can hold, and kept-alive leases, over weeks of (mocked) time.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../../../core/store/memory-store.js';

const DAY_MS = 86_400_000;

test('a TTL put of 30 days lives 30 days, not 1 ms (setTimeout caps at 24.8 days and fires at once past it)', async (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_800_000_000_000 });
  t.after(() => mock.timers.reset());
  const store = new MemoryStore();
  await store.put('revoked/jti/a', '{}', { ttlSeconds: 30 * 86_400 });
  mock.timers.tick(1);
  assert.equal(await store.get('revoked/jti/a'), '{}');
  mock.timers.tick(25 * DAY_MS);
  assert.equal(await store.get('revoked/jti/a'), '{}', 'still there after 25 days');
  mock.timers.tick(5 * DAY_MS - 2);
  assert.equal(await store.get('revoked/jti/a'), '{}', 'still there just before 30 days');
  mock.timers.tick(2);
  assert.equal(await store.get('revoked/jti/a'), undefined, 'gone at 30 days');
  await store.close();
});

test('a kept-alive lease never lapses, and revoking it removes its keys', async (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_800_000_000_000 });
  t.after(() => mock.timers.reset());
  const store = new MemoryStore();
  const lease = await store.grantLease(10);
  await lease.put('endpoints/echo/1', '{}');
  mock.timers.tick(60 * DAY_MS);
  assert.equal(await store.get('endpoints/echo/1'), '{}', 'kept alive after 60 days');
  await lease.revoke();
  assert.equal(await store.get('endpoints/echo/1'), undefined);
  await store.close();
});
