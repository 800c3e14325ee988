// Endpoint registration on real etcd: leased keys listed by one EndpointSet watch, gone on graceful deregister,
// expired when the owner dies, re-registered when the lease is lost.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../../core/store/etcd-store.js';
import { EndpointSet, registerEndpoint } from '../../core/store/endpoints.js';
import { startEtcd, type EtcdProcess } from '../support/start-etcd.js';

let etcd: EtcdProcess;
let raw: Etcd3;
let n = 0;
const cleanup: (() => Promise<void>)[] = [];

before(async () => {
  etcd = await startEtcd();
  raw = new Etcd3({ hosts: etcd.endpoint });
});

after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => {});
  raw.close();
  await etcd.stop();
});

function store(prefix: string): EtcdStore {
  const s = new EtcdStore({ endpoints: etcd.endpoint, prefix });
  cleanup.push(() => s.close());
  return s;
}

async function endpointSet(s: EtcdStore): Promise<EndpointSet> {
  const set = await EndpointSet.watch(s);
  cleanup.push(() => set.close());
  return set;
}

/** Resolves when `check` holds, re-checked on every change the set reports. */
function until(set: EndpointSet, check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (off(), reject(new Error(`timed out waiting for ${what}`))), timeoutMs);
    const off = set.onChange(() => {
      if (check()) {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
  });
}

test('registered endpoints of every service are listed by one watch; deregister removes at once', async () => {
  const prefix = `/ep-${++n}/`;
  const set = await endpointSet(store(prefix));
  const owner = store(prefix);
  const a1 = await registerEndpoint(owner, { service: 'orders', id: 'a1', address: '10.0.0.1:15006', meta: { zone: 'z1' }, ttlSeconds: 1 });
  const a2 = await registerEndpoint(owner, { service: 'orders', id: 'a2', address: '10.0.0.2:15006', ttlSeconds: 1 });
  const b1 = await registerEndpoint(owner, { service: 'inventory', id: 'b1', address: '10.0.1.1:15006', ttlSeconds: 1 });
  await until(set, () => set.list('orders').length === 2 && set.list('inventory').length === 1, 'three endpoints');
  assert.deepEqual(set.list('orders'), ['10.0.0.1:15006', '10.0.0.2:15006']);
  assert.equal(set.list('orders'), set.list('orders'), 'the same cached array until something changes');
  assert.deepEqual(set.entries('orders')[0].meta, { zone: 'z1' });
  assert.deepEqual(set.services(), ['inventory', 'orders']);
  assert.deepEqual(set.list('nobody'), []);
  // A hand-written bare host:port (etcdctl put) counts too.
  await raw.put(`${prefix}endpoints/inventory/manual`).value('10.0.1.9:15006');
  await until(set, () => set.list('inventory').length === 2, 'the manual endpoint');

  await a1.deregister();
  await until(set, () => set.list('orders').length === 1, 'a1 to go');
  assert.deepEqual(set.list('orders'), ['10.0.0.2:15006']);
  assert.equal(await owner.get('endpoints/orders/a1'), undefined);
  await a2.deregister();
  await b1.deregister();
  await until(set, () => set.list('orders').length === 0, 'orders to be empty');
  assert.deepEqual(set.services(), ['inventory']);
});

test('a dead instance disappears when its lease expires', async () => {
  const prefix = `/ep-${++n}/`;
  const set = await endpointSet(store(prefix));
  const owner = new EtcdStore({ endpoints: etcd.endpoint, prefix });
  await registerEndpoint(owner, { service: 'echo', id: 'dies', address: '127.0.0.1:1', ttlSeconds: 1 });
  await until(set, () => set.list('echo').length === 1, 'the endpoint');
  // Closing the store stops keepalives without revoking: what a crashed sidecar leaves behind.
  await owner.close();
  await until(set, () => set.list('echo').length === 0, 'the lease to expire');
});

test('an endpoint whose lease is lost registers again by itself', async () => {
  const prefix = `/ep-${++n}/`;
  const set = await endpointSet(store(prefix));
  const owner = store(prefix);
  const reg = await registerEndpoint(owner, { service: 'echo', id: 'e1', address: '127.0.0.1:2', ttlSeconds: 1 });
  cleanup.push(() => reg.deregister());
  await until(set, () => set.list('echo').length === 1, 'the endpoint');
  const { kvs } = await raw.get(`${prefix}endpoints/echo/e1`).exec();
  const firstLease = kvs[0].lease;
  let sawGone = false;
  const off = set.onChange(() => {
    if (set.list('echo').length === 0) sawGone = true;
  });
  await raw.leaseClient.leaseRevoke({ ID: firstLease });
  await until(set, () => sawGone && set.list('echo').length === 1, 'the endpoint to come back under a new lease');
  off();
  const again = await raw.get(`${prefix}endpoints/echo/e1`).exec();
  assert.notEqual(again.kvs[0].lease, firstLease);
});
