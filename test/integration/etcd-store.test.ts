// EtcdStore against a real etcd: kv and prefixes, TTL puts, leases, CAS, watches, and watches that survive
// an etcd restart, a cut connection and a compaction past the watcher's revision.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { EtcdStore, StoreUnavailableError } from '../../core/store/etcd-store.js';
import { openStore } from '../../core/store/open-store.js';
import { MemoryStore } from '../../core/store/memory-store.js';
import { registry } from '../../core/telemetry/metrics.js';
import { startEtcd, type EtcdProcess } from '../support/start-etcd.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { WatchMirror } from '../support/watch-mirror.js';
import { waitFor } from '../support/wait-for.js';

let etcd: EtcdProcess;
let raw: Etcd3;
let prefixCounter = 0;
const stores: EtcdStore[] = [];

/** A store on a fresh prefix, so tests do not see each other's keys. */
function freshStore(endpoint = etcd.endpoint): EtcdStore {
  const store = new EtcdStore({ endpoints: endpoint, prefix: `/test-${process.pid}-${++prefixCounter}/` });
  stores.push(store);
  return store;
}

async function storeGauge(): Promise<number> {
  const metric = await registry.getSingleMetric('meshgate_store_connected')!.get();
  return metric.values[0].value;
}

before(async () => {
  etcd = await startEtcd();
  raw = new Etcd3({ hosts: etcd.endpoint });
});

after(async () => {
  for (const store of stores) await store.close().catch(() => {});
  raw.close();
  await etcd.stop();
});

test('get, put, delete and getPrefix stay inside the store prefix', async () => {
  const a = freshStore();
  const b = freshStore();
  await a.put('config/current', 'v1');
  await a.put('endpoints/svc/one', '1');
  await a.put('endpoints/svc/two', '2');
  await a.put('endpoints/other/x', 'x');
  assert.equal(await a.get('config/current'), 'v1');
  assert.equal(await b.get('config/current'), undefined);
  assert.equal(await raw.get(`${a.prefix}config/current`).string(), 'v1');
  assert.deepEqual(
    [...(await a.getPrefix('endpoints/svc/'))].sort(),
    [
      ['endpoints/svc/one', '1'],
      ['endpoints/svc/two', '2'],
    ],
  );
  await a.delete('endpoints/svc/one');
  assert.deepEqual([...(await a.getPrefix('endpoints/svc/')).keys()], ['endpoints/svc/two']);
  assert.equal(await a.get('missing'), undefined);
});

test('a put with ttlSeconds expires by itself', async () => {
  const store = freshStore();
  const { mirror } = await WatchMirror.on(store, 'revoked/');
  await store.put('revoked/jti/abc', '1', { ttlSeconds: 1 });
  assert.equal(await store.get('revoked/jti/abc'), '1');
  await mirror.until((s) => s.has('revoked/jti/abc'));
  await mirror.until((s) => !s.has('revoked/jti/abc'), 10_000, 'the TTL key to expire');
  assert.equal(await store.get('revoked/jti/abc'), undefined);
});

test('a lease keeps its keys alive past its TTL until revoked', async () => {
  const store = freshStore();
  const { mirror } = await WatchMirror.on(store, 'nodes/');
  const lease = await store.grantLease(1);
  await lease.put('nodes/n1', 'alive');
  // Wait for several keepalives (TTL/3 each) by watching the lease's own TTL being refreshed in etcd.
  const leaseId = lease.id;
  let refreshed = 0;
  await waitFor(async () => {
    const ttl = await raw.leaseClient.leaseTimeToLive({ ID: leaseId });
    if (Number(ttl.TTL) >= 1) refreshed++;
    return refreshed >= 8;
  }, 'keepalives', 10_000, 250);
  assert.equal(await store.get('nodes/n1'), 'alive');
  await lease.revoke();
  await mirror.until((s) => !s.has('nodes/n1'));
  assert.equal(await store.get('nodes/n1'), undefined);
});

test('onLost fires when etcd drops the lease', async () => {
  const store = freshStore();
  const lease = await store.grantLease(1);
  await lease.put('endpoints/svc/a', 'x');
  const lost = new Promise<void>((resolve) => lease.onLost(resolve));
  await raw.leaseClient.leaseRevoke({ ID: lease.id });
  await lost;
  assert.equal(await store.get('endpoints/svc/a'), undefined);
  // A revoked lease never reports "lost" to its owner.
  const second = await store.grantLease(1);
  let calls = 0;
  second.onLost(() => calls++);
  await second.revoke();
  assert.equal(calls, 0);
});

test('compareAndSwap applies puts and deletes atomically or not at all', async () => {
  const store = freshStore();
  assert.equal(await store.compareAndSwap('config/current', undefined, [{ key: 'config/current', value: 'v1' }, { key: 'config/history/1', value: 'v1' }]), true);
  assert.equal(await store.compareAndSwap('config/current', undefined, [{ key: 'config/current', value: 'other' }]), false, 'absent expected but present');
  assert.equal(await store.compareAndSwap('config/current', 'v0', [{ key: 'config/current', value: 'other' }]), false, 'stale expected value');
  assert.equal(await store.get('config/current'), 'v1');
  assert.equal(
    await store.compareAndSwap('config/current', 'v1', [{ key: 'config/current', value: 'v2' }, { key: 'config/history/2', value: 'v2' }], ['config/history/1']),
    true,
  );
  assert.deepEqual([...(await store.getPrefix('config/'))].sort(), [
    ['config/current', 'v2'],
    ['config/history/2', 'v2'],
  ]);
});

test('watch sends reset and the existing keys first, then puts and deletes', async () => {
  const store = freshStore();
  await store.put('keys/k1', 'a');
  await store.put('other/x', 'ignored');
  const { mirror, watcher } = await WatchMirror.on(store, 'keys/');
  assert.deepEqual(mirror.events, [{ type: 'reset' }, { type: 'put', key: 'keys/k1', value: 'a' }]);
  await store.put('keys/k2', 'b');
  await store.delete('keys/k1');
  await store.put('other/y', 'ignored');
  await mirror.until((s) => s.has('keys/k2') && !s.has('keys/k1'));
  assert.deepEqual(mirror.events.slice(2), [
    { type: 'put', key: 'keys/k2', value: 'b' },
    { type: 'delete', key: 'keys/k1' },
  ]);
  await watcher.close();
  await store.put('keys/k3', 'after close');
  assert.equal(await store.get('keys/k3'), 'after close');
  assert.equal(mirror.state.has('keys/k3'), false);
});

test('a watch survives an etcd restart, and connected/gauge report the outage', async () => {
  // The gauge covers every store of the process: leave only this test's store open.
  for (const open of stores.splice(0)) await open.close();
  const store = freshStore();
  await store.put('config/current', 'before');
  const { mirror } = await WatchMirror.on(store, 'config/');
  assert.equal(store.connected, true);
  await etcd.stop();
  await waitFor(() => !store.connected, 'the store to notice etcd is gone');
  assert.equal(await storeGauge(), 0);
  await assert.rejects(store.get('config/current'), StoreUnavailableError);
  await etcd.start();
  await mirror.until((s) => s.get('config/current') === 'before' && mirror.resets >= 2, 20_000, 'the re-read after restart');
  await store.put('config/current', 'after');
  await store.put('config/other', 'new');
  await mirror.until((s) => s.get('config/current') === 'after' && s.get('config/other') === 'new', 20_000, 'events after restart');
  assert.equal(store.connected, true);
  assert.equal(await storeGauge(), 1);
});

test('a watch cut off while its revision is compacted re-reads on reconnect and ends right, deletes included', async () => {
  const proxy = await startTcpProxy('127.0.0.1', Number(new URL(etcd.endpoint).port));
  try {
    const store = freshStore(`http://${proxy.address}`);
    const direct = new EtcdStore({ endpoints: etcd.endpoint, prefix: store.prefix });
    stores.push(direct);
    await direct.put('endpoints/svc/a', 'A');
    await direct.put('endpoints/svc/b', 'B');
    const { mirror } = await WatchMirror.on(store, 'endpoints/');
    await mirror.until((s) => s.size === 2);
    proxy.cut();
    await waitFor(() => !store.connected, 'the store to notice the cut');
    // While the watcher is away: a delete, an update, a new key, then compaction past all of it.
    await direct.delete('endpoints/svc/a');
    await direct.put('endpoints/svc/b', 'B2');
    await direct.put('endpoints/svc/c', 'C');
    const { header } = await raw.getAll().prefix(store.prefix).exec();
    await raw.kv.compact({ revision: header.revision, physical: true });
    proxy.restore();
    await mirror.until(
      (s) => !s.has('endpoints/svc/a') && s.get('endpoints/svc/b') === 'B2' && s.get('endpoints/svc/c') === 'C',
      20_000,
      'the state after reconnect past compaction',
    );
    assert.deepEqual([...mirror.state].sort(), [
      ['endpoints/svc/b', 'B2'],
      ['endpoints/svc/c', 'C'],
    ]);
    // Still watching live afterwards.
    await direct.put('endpoints/svc/d', 'D');
    await mirror.until((s) => s.get('endpoints/svc/d') === 'D');
  } finally {
    await proxy.close();
  }
});

test('a live watcher that falls behind a compaction is canceled by etcd, re-reads and ends right (etcd3 trap)', async () => {
  const proxy = await startTcpProxy('127.0.0.1', Number(new URL(etcd.endpoint).port));
  try {
    const store = freshStore(`http://${proxy.address}`);
    const { mirror } = await WatchMirror.on(store, 'keys/');
    await raw.put(`${store.prefix}keys/first`).value('1');
    await mirror.until((s) => s.has('keys/first'));
    const canceledBefore = await resyncs('canceled');
    // Stall the watcher's connection (open, no bytes) and write more than etcd can buffer for it, so etcd
    // parks it as a slow watcher; then compact past its revision. On thaw etcd cancels it as compacted.
    proxy.freeze();
    const value = 'x'.repeat(4096);
    const writes = 400;
    for (let i = 0; i < writes; i++) await raw.put(`${store.prefix}keys/${i % 10}`).value(`${value}${i}`);
    await raw.delete().key(`${store.prefix}keys/first`);
    const { header } = await raw.get(`${store.prefix}keys/0`).exec();
    await raw.kv.compact({ revision: header.revision, physical: true });
    proxy.thaw();
    await mirror.until((s) => !s.has('keys/first') && s.get('keys/9') === `${value}${writes - 1}`, 20_000, 'the state after the cancel');
    assert.equal(await resyncs('canceled'), canceledBefore + 1, 'etcd canceled the watcher and the store re-read once');
    assert.equal(mirror.state.size, 10);
    await raw.put(`${store.prefix}keys/live`).value('yes');
    await mirror.until((s) => s.get('keys/live') === 'yes');
  } finally {
    await proxy.close();
  }
});

async function resyncs(reason: string): Promise<number> {
  const metric = await registry.getSingleMetric('meshgate_store_watch_resyncs_total')!.get();
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

test('openStore picks etcd when endpoints are given, memory otherwise', async () => {
  const memory = openStore({});
  assert.ok(memory instanceof MemoryStore);
  const real = openStore({ etcd: ` ${etcd.endpoint} `, prefix: '/open-store-test/' });
  assert.ok(real instanceof EtcdStore);
  stores.push(real as EtcdStore);
  await real.put('k', 'v');
  assert.equal(await raw.get('/open-store-test/k').string(), 'v');
});
