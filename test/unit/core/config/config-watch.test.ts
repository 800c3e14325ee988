// ConfigWatch on the in-memory store: serve, coalesce bursts into one compile, refuse invalid snapshots,
// last-known-good write and boot, and the nodes/<id> record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../../../../core/store/memory-store.js';
import { ConfigWatch, CONFIG_KEY, type NodeRecord } from '../../../../core/config/config-watch.js';
import { SnapshotHolder, configDigest, type SnapshotRecord } from '../../../../core/config/snapshot.js';
import { publishSnapshot } from '../../../../registry/publish.js';
import { meshConfig } from '../../../support/mesh-config.js';

function record(version: number, routes: string[]): string {
  const config = meshConfig(routes);
  return JSON.stringify({ version, digest: configDigest(config), author: 't', message: '', createdAt: new Date().toISOString(), config } satisfies SnapshotRecord);
}

function nextSwap(holder: SnapshotHolder): Promise<number> {
  return new Promise((resolve) => {
    const off = holder.onSwap((s) => {
      off();
      resolve(s.version);
    });
  });
}

test('serves the live snapshot at start and reports it under nodes/<id>; stop removes the record', async () => {
  const store = new MemoryStore();
  await publishSnapshot(store, meshConfig(['a']));
  const holder = new SnapshotHolder();
  const watch = new ConfigWatch({ store, holder, role: 'edge', nodeId: 'e1' });
  assert.equal(watch.ready, false);
  assert.deepEqual(watch.status(), { version: undefined, digest: undefined, appliedAt: undefined, source: 'none', rejected: 0 });
  await watch.start();
  assert.equal(watch.ready, true);
  assert.equal(holder.current!.version, 1);
  const node = JSON.parse((await store.get('nodes/e1'))!) as NodeRecord;
  assert.equal(node.version, 1);
  assert.equal(node.role, 'edge');
  assert.equal(node.lagMs, undefined, 'a snapshot from before start is not propagation');
  await watch.stop();
  assert.equal(await store.get('nodes/e1'), undefined);
});

test('a burst of puts in one tick is compiled once: only the newest is swapped in', async () => {
  const store = new MemoryStore();
  await store.put(CONFIG_KEY, record(1, ['a']));
  const holder = new SnapshotHolder();
  const watch = new ConfigWatch({ store, holder, role: 'sidecar', nodeId: 's1' });
  await watch.start();
  const versions: number[] = [];
  holder.onSwap((s) => versions.push(s.version));
  const swapped = nextSwap(holder);
  await Promise.all([store.put(CONFIG_KEY, record(2, ['a', 'b'])), store.put(CONFIG_KEY, record(3, ['a', 'c'])), store.put(CONFIG_KEY, record(4, ['a', 'd']))]);
  assert.equal(await swapped, 4);
  assert.deepEqual(versions, [4]);
  assert.ok(holder.current!.routesByName.has('d'));
  await watch.stop();
});

test('an invalid snapshot is refused and counted; the old one keeps serving; a valid one after it is taken', async () => {
  const store = new MemoryStore();
  await store.put(CONFIG_KEY, record(1, ['a']));
  const holder = new SnapshotHolder();
  const watch = new ConfigWatch({ store, holder, role: 'edge', nodeId: 'e2' });
  await watch.start();
  const served = holder.current;
  const broken = JSON.parse(record(2, ['a'])) as SnapshotRecord;
  broken.config.routes[0].backendRefs = [{ name: 'nowhere' }];
  await store.put(CONFIG_KEY, JSON.stringify(broken));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(watch.status().rejected, 1);
  assert.equal(holder.current, served);
  const swapped = nextSwap(holder);
  await store.put(CONFIG_KEY, record(3, ['a', 'z']));
  assert.equal(await swapped, 3);
  assert.equal(watch.status().rejected, 1);
  await watch.stop();
});

test('writes last-known-good after a swap and boots from it when the store has no snapshot, then takes the store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshgate-lkg-'));
  try {
    const lkgPath = join(dir, 'sub', 'lkg.json');
    const first = new MemoryStore();
    await first.put(CONFIG_KEY, record(7, ['a']));
    const w1 = new ConfigWatch({ store: first, holder: new SnapshotHolder(), role: 'edge', nodeId: 'e3', lkgPath });
    await w1.start();
    await w1.stop();
    assert.equal((JSON.parse(readFileSync(lkgPath, 'utf8')) as SnapshotRecord).version, 7);

    const empty = new MemoryStore();
    const holder = new SnapshotHolder();
    const w2 = new ConfigWatch({ store: empty, holder, role: 'edge', nodeId: 'e3', lkgPath });
    await w2.start();
    assert.equal(w2.status().source, 'last-known-good');
    assert.equal(holder.current!.version, 7);
    const swapped = nextSwap(holder);
    await empty.put(CONFIG_KEY, record(8, ['a', 'b']));
    assert.equal(await swapped, 8);
    assert.equal(w2.status().source, 'store');
    await w2.stop();

    // A torn or foreign last-known-good file is refused like any invalid snapshot; the node waits for the store.
    writeFileSync(lkgPath, '{"version": 9, "config": {}}');
    const holder3 = new SnapshotHolder();
    const w3 = new ConfigWatch({ store: new MemoryStore(), holder: holder3, role: 'edge', nodeId: 'e4', lkgPath });
    let started = false;
    const starting = w3.start().then(() => (started = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(started, false);
    assert.equal(w3.status().rejected, 1);
    await w3.stop();
    await starting;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
