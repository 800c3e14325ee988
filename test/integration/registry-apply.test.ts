// publishSnapshot and rollbackSnapshot against a real etcd: one atomic versioned write with bounded history,
// optimistic concurrency between two applies, refusal of unflagged removals, and rollback.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../../core/store/etcd-store.js';
import type { Store } from '../../core/store/store.js';
import { configDigest, type SnapshotRecord } from '../../core/config/snapshot.js';
import { ConfigInvalidError, MAX_SNAPSHOT_BYTES, SNAPSHOT_RECORD_ROOM } from '../../core/config/check.js';
import {
  ApplyConflictError,
  HISTORY_LIMIT,
  RemovalRefusedError,
  SnapshotNotKeptError,
  publishSnapshot,
  readHistory,
  readLive,
  rollbackSnapshot,
} from '../../registry/publish.js';
import { diffConfigs, formatDiff } from '../../registry/diff.js';
import { startEtcd, type EtcdProcess } from '../support/start-etcd.js';
import { WatchMirror } from '../support/watch-mirror.js';
import { meshConfig } from '../support/mesh-config.js';

let etcd: EtcdProcess;
let raw: Etcd3;
let n = 0;
const stores: EtcdStore[] = [];

function freshStore(): EtcdStore {
  const store = new EtcdStore({ endpoints: etcd.endpoint, prefix: `/registry-apply-${++n}/` });
  stores.push(store);
  return store;
}

before(async () => {
  etcd = await startEtcd();
  raw = new Etcd3({ hosts: etcd.endpoint });
});

after(async () => {
  for (const store of stores) await store.close();
  raw.close();
  await etcd.stop();
});

test('apply writes config/current and its history entry in one transaction, versions grow, history is bounded', async () => {
  const store = freshStore();
  const { mirror } = await WatchMirror.on(store, 'config/');
  const first = await publishSnapshot(store, meshConfig(['a']), { author: 'alice', message: 'first' });
  assert.deepEqual(first, { version: 1, digest: configDigest(meshConfig(['a'])), unchanged: false });
  const live = (await readLive(store)).record!;
  assert.equal(live.version, 1);
  assert.equal(live.author, 'alice');
  assert.equal(live.message, 'first');
  assert.deepEqual(live.config, meshConfig(['a']));
  assert.equal(await store.get('config/history/1'), await store.get('config/current'));
  // Both keys arrive from one etcd revision: the watch sees them back to back, never one without the other.
  await mirror.until((s) => s.has('config/history/1'));
  const puts = mirror.events.filter((e) => e.type === 'put').map((e) => (e as { key: string }).key);
  assert.deepEqual(puts.slice(-2).sort(), ['config/current', 'config/history/1']);
  const revisions = await Promise.all(['config/current', 'config/history/1'].map(async (k) => (await raw.get(`${store.prefix}${k}`).exec()).kvs[0].mod_revision));
  assert.equal(revisions[0], revisions[1]);

  assert.equal((await publishSnapshot(store, meshConfig(['a']))).unchanged, true, 'same digest: nothing written');
  assert.equal((await readLive(store)).record!.version, 1);

  for (let i = 2; i <= HISTORY_LIMIT + 5; i++) await publishSnapshot(store, meshConfig(['a', `r${i}`]), { allowRemovals: true });
  const history = await readHistory(store);
  assert.equal(history.length, HISTORY_LIMIT);
  assert.equal(history[0].version, HISTORY_LIMIT + 5);
  assert.equal(history.at(-1)!.version, 6);
  assert.equal((await readLive(store)).record!.version, HISTORY_LIMIT + 5);
});

test('two concurrent applies: exactly one wins, the other fails with a clear conflict and writes nothing', async () => {
  const store = freshStore();
  await publishSnapshot(store, meshConfig(['a']));
  // Hold both applies at their transaction until both have read the live snapshot: a real race, made certain.
  let arrived = 0;
  let release!: () => void;
  const barrier = new Promise<void>((resolve) => (release = resolve));
  const racing: Store = Object.create(store, {
    compareAndSwap: {
      value: async (...args: Parameters<Store['compareAndSwap']>) => {
        if (++arrived === 2) release();
        await barrier;
        return store.compareAndSwap(...args);
      },
    },
  });
  const results = await Promise.allSettled([
    publishSnapshot(racing, meshConfig(['a', 'from-one']), { message: 'one' }),
    publishSnapshot(racing, meshConfig(['a', 'from-two']), { message: 'two' }),
  ]);
  const won = results.filter((r) => r.status === 'fulfilled');
  const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  assert.equal(won.length, 1);
  assert.equal(lost.length, 1);
  assert.ok(lost[0].reason instanceof ApplyConflictError);
  assert.match(lost[0].reason.message, /another apply changed the live snapshot meanwhile \(now version 2, was 1\)/);
  const live = (await readLive(store)).record!;
  assert.equal(live.version, 2);
  const winner = (won[0] as PromiseFulfilledResult<{ version: number }>).value;
  assert.equal(winner.version, 2);
  assert.deepEqual((await readHistory(store)).map((r) => r.version), [2, 1], 'the loser left no history entry');

  await assert.rejects(publishSnapshot(store, meshConfig(['a', 'x']), { expectVersion: 1 }), (err: Error) => {
    assert.ok(err instanceof ApplyConflictError);
    assert.match(err.message, /live snapshot is version 2, not 1/);
    return true;
  });
});

test('removing a route or a service is refused without allowRemovals, naming what would go', async () => {
  const store = freshStore();
  await publishSnapshot(store, meshConfig(['a', 'b'], ['svc', 'old-svc']));
  const next = meshConfig(['a'], ['svc']);
  await assert.rejects(publishSnapshot(store, next), (err: Error) => {
    assert.ok(err instanceof RemovalRefusedError);
    assert.deepEqual(err.removed, ['route b', 'service old-svc']);
    assert.match(err.message, /refusing to remove route b, service old-svc without --allow-removals/);
    return true;
  });
  assert.equal((await readLive(store)).record!.version, 1, 'nothing written');
  assert.deepEqual(formatDiff(diffConfigs((await readLive(store)).record!.config, next)), ['- route b', '- service old-svc']);
  const applied = await publishSnapshot(store, next, { allowRemovals: true });
  assert.equal(applied.version, 2);
});

test('an invalid config is refused before anything is written', async () => {
  const store = freshStore();
  const broken = meshConfig(['a']);
  broken.routes[0].backendRefs = [{ name: 'nowhere' }];
  await assert.rejects(publishSnapshot(store, broken), (err: Error) => {
    assert.ok(err instanceof ConfigInvalidError);
    assert.match(err.message, /routes\[0\]\.backendRefs\[0\]\.name: unknown service "nowhere"/);
    return true;
  });
  assert.equal(await store.get('config/current'), undefined);
});

/** A config of routes r0, r1, … whose JSON is as close to `bytes` as whole routes allow, without going over. */
function configOfSize(bytes: number): ReturnType<typeof meshConfig> {
  const config = meshConfig(['r0']);
  const route = (i: number) => ({ ...config.routes[0], name: `r${i}`, matches: [{ path: { type: 'PathPrefix' as const, value: `/r${i}` } }] });
  // Every added route has a 6-digit number: the same size as JSON, and a comma before it.
  const perRoute = Buffer.byteLength(JSON.stringify(route(100000))) + 1;
  const count = Math.floor((bytes - Buffer.byteLength(JSON.stringify(config))) / perRoute);
  for (let i = 1; i <= count; i++) config.routes.push(route(100000 + i));
  return config;
}

test('a snapshot too big for one etcd request is refused naming the limit, nothing written; the largest allowed applies over itself', async () => {
  // Before: a config that validated (1 MB, 8,554 routes) died in apply with etcd's "request is too large" and a stack.
  const store = freshStore();
  const limit = MAX_SNAPSHOT_BYTES - SNAPSHOT_RECORD_ROOM;
  await assert.rejects(publishSnapshot(store, configOfSize(limit + 1000)), (err: Error) => {
    assert.ok(err instanceof ConfigInvalidError, String(err));
    assert.equal(err.errors.length, 1);
    assert.match(err.errors[0].message, new RegExp(`^the config is \\d+ bytes as JSON; at most ${limit} fit in a snapshot \\(etcd refuses a request above 1\\.5 MiB`));
    return true;
  });
  assert.equal(await store.get('config/current'), undefined);
  // At the limit, on etcd's default request limit: the first apply, then one over a live snapshot as big (the
  // transaction compares the live record and writes the new one twice).
  const largest = configOfSize(limit);
  await publishSnapshot(store, largest, { allowRemovals: true });
  largest.routes.pop();
  largest.routes.push({ ...largest.routes[0], name: 'rz', matches: [{ path: { type: 'PathPrefix', value: '/rz' } }] });
  assert.equal((await publishSnapshot(store, largest, { allowRemovals: true, message: 'm'.repeat(1000) })).version, 2);
  // A message that takes the record itself past the limit is refused too.
  largest.routes.pop();
  await assert.rejects(publishSnapshot(store, largest, { allowRemovals: true, message: 'm'.repeat(SNAPSHOT_RECORD_ROOM) }), (err: Error) => {
    assert.ok(err instanceof ConfigInvalidError, String(err));
    assert.match(err.message, new RegExp(`the snapshot \\(config, author and message\\) is \\d+ bytes as JSON; at most ${MAX_SNAPSHOT_BYTES} fit`));
    return true;
  });
  assert.equal((await readLive(store)).record!.version, 2);
});

test('rollback makes the previous (or a named) kept snapshot live again as a new version', async () => {
  const store = freshStore();
  await publishSnapshot(store, meshConfig(['a']), { message: 'v1' });
  await publishSnapshot(store, meshConfig(['a', 'b']), { message: 'v2' });
  await publishSnapshot(store, meshConfig(['a', 'b', 'c']), { message: 'v3' });
  const back = await rollbackSnapshot(store);
  assert.equal(back.version, 4);
  assert.equal(back.restored, 2);
  let live: SnapshotRecord = (await readLive(store)).record!;
  assert.deepEqual(live.config, meshConfig(['a', 'b']));
  assert.equal(live.message, 'rollback to version 2');
  const named = await rollbackSnapshot(store, { version: 1 });
  assert.equal(named.version, 5);
  live = (await readLive(store)).record!;
  assert.deepEqual(live.config, meshConfig(['a']));
  await assert.rejects(rollbackSnapshot(store, { version: 99 }), SnapshotNotKeptError);
  const empty = freshStore();
  await assert.rejects(rollbackSnapshot(empty), /no earlier snapshot/);
});

