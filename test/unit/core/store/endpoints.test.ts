// EndpointSet on the in-memory store: one watch for every service, cached lists, resets, hand-written values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../../../core/store/memory-store.js';
import type { Store, WatchEvent } from '../../../../core/store/store.js';
import { EndpointSet, registerEndpoint } from '../../../../core/store/endpoints.js';
import { FlakyStore } from '../../../support/flaky-store.js';

/** Let pending immediates and promise chains (store calls, a re-registration) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

test('lists each service from one watch, caches the list, and forgets deregistered instances', async () => {
  const store = new MemoryStore();
  const set = await EndpointSet.watch(store);
  const changed: string[] = [];
  set.onChange((s) => changed.push(s));
  const a = await registerEndpoint(store, { service: 'orders', id: 'b', address: '10.0.0.2:15006' });
  await registerEndpoint(store, { service: 'orders', id: 'a', address: '10.0.0.1:15006' });
  await registerEndpoint(store, { service: 'echo', id: 'x', address: '10.0.1.1:15006' });
  assert.deepEqual(set.list('orders'), ['10.0.0.1:15006', '10.0.0.2:15006'], 'ordered by id');
  assert.equal(set.list('orders'), set.list('orders'));
  assert.deepEqual(changed, ['orders', 'orders', 'echo']);
  await a.deregister();
  assert.deepEqual(set.list('orders'), ['10.0.0.1:15006']);
  await set.close();
});

test('a reset replaces the whole set in one go and tells listeners about services that vanished', async () => {
  let emit!: (e: WatchEvent) => void;
  const fake = { watch: async (_p: string, l: (e: WatchEvent) => void) => ((emit = l), { close: async () => {} }) } as unknown as Store;
  const set = await EndpointSet.watch(fake);
  emit({ type: 'reset' });
  emit({ type: 'put', key: 'endpoints/gone/1', value: '{"address":"10.0.0.9:1"}' });
  emit({ type: 'put', key: 'endpoints/kept/1', value: '10.0.0.1:1' });
  emit({ type: 'put', key: 'endpoints/bad/1', value: '{"no":"address"}' });
  emit({ type: 'put', key: 'endpoints/noid', value: '10.0.0.1:1' });
  assert.deepEqual(set.services(), ['gone', 'kept']);
  const changed: string[] = [];
  set.onChange((s) => changed.push(s));
  emit({ type: 'reset' });
  emit({ type: 'put', key: 'endpoints/kept/1', value: '10.0.0.1:2' });
  assert.deepEqual(set.list('kept'), ['10.0.0.1:2']);
  assert.deepEqual(set.list('gone'), []);
  await new Promise((resolve) => queueMicrotask(() => resolve(undefined)));
  assert.deepEqual(changed.sort(), ['gone', 'kept']);
});

test('a lease lost while the store was away: registered again as soon as the store is reachable, not on the backoff timer', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] }); // the backoff timer never fires unless the test ticks it
  const memory = new MemoryStore();
  const flaky = new FlakyStore(memory);
  const key = 'endpoints/orders/a';
  const registration = await registerEndpoint(flaky.store, { service: 'orders', id: 'a', address: '10.0.0.1:15006' });
  assert.ok(await memory.get(key));
  flaky.down();
  await flaky.loseLeases(); // etcd expired it; the owner tries again at once, and fails: etcd is still away
  await settle();
  assert.equal(await memory.get(key), undefined);
  flaky.up();
  await settle();
  assert.ok(await memory.get(key), 'back with no timer fired');
  await registration.deregister();
  assert.equal(await memory.get(key), undefined);
  flaky.down();
  flaky.up();
  await settle();
  assert.equal(await memory.get(key), undefined, 'a deregistered instance does not come back');
  t.mock.timers.reset();
});
