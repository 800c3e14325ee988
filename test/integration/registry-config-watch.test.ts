// ConfigWatch on real etcd: nodes serve each applied snapshot and report it under nodes/<id>; an invalid snapshot
// is refused while the old one serves; a node boots from last-known-good with etcd down and catches up; watches
// and node leases survive an etcd restart and a compaction while cut off; a dead node's lease expires.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../../core/store/etcd-store.js';
import { ConfigWatch, type NodeRecord } from '../../core/config/config-watch.js';
import { SnapshotHolder } from '../../core/config/snapshot.js';
import { registry } from '../../core/telemetry/metrics.js';
import { publishSnapshot } from '../../registry/publish.js';
import { startEtcd, type EtcdProcess } from '../support/start-etcd.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { WatchMirror } from '../support/watch-mirror.js';
import { waitFor } from '../support/wait-for.js';
import { meshConfig } from '../support/mesh-config.js';

let etcd: EtcdProcess;
let raw: Etcd3;
let dir: string;
let n = 0;
const cleanup: (() => Promise<void>)[] = [];

before(async () => {
  etcd = await startEtcd();
  raw = new Etcd3({ hosts: etcd.endpoint });
  dir = mkdtempSync(join(tmpdir(), 'meshgate-config-watch-'));
});

after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => {});
  raw.close();
  await etcd.stop();
  rmSync(dir, { recursive: true, force: true });
  // Every client above is closed, yet in about one run of twenty a socket of a closed etcd3 (grpc-js) client that
  // lived through the etcd restart stays open and holds this test process until the file times out. All results
  // are reported by now; do not let that socket turn a pass into a timeout (unref'd: a clean exit comes first).
  setTimeout(() => process.exit(process.exitCode ?? 0), 5_000).unref();
});

function store(prefix: string, endpoint = etcd.endpoint): EtcdStore {
  const s = new EtcdStore({ endpoints: endpoint, prefix });
  cleanup.push(() => s.close());
  return s;
}

interface Node {
  watch: ConfigWatch;
  holder: SnapshotHolder;
  store: EtcdStore;
  /** Resolves once the holder serves `version` (or newer). */
  serving(version: number, timeoutMs?: number): Promise<void>;
}

function node(prefix: string, id: string, o: { endpoint?: string; lkgPath?: string } = {}): Node {
  const s = store(prefix, o.endpoint);
  const holder = new SnapshotHolder();
  const watch = new ConfigWatch({ store: s, holder, role: 'sidecar', nodeId: id, service: 'svc', lkgPath: o.lkgPath, nodeTtlSeconds: 1 });
  cleanup.push(() => watch.stop());
  return {
    watch,
    holder,
    store: s,
    serving: (version, timeoutMs = 15_000) =>
      new Promise<void>((resolve, reject) => {
        if ((holder.current?.version ?? 0) >= version) return resolve();
        const timer = setTimeout(() => reject(new Error(`${id} did not serve version ${version} (serves ${holder.current?.version})`)), timeoutMs);
        const off = holder.onSwap((s) => {
          if (s.version >= version) {
            clearTimeout(timer);
            off();
            resolve();
          }
        });
      }),
  };
}

async function metricValue(name: string, labels: Record<string, string> = {}, suffix = ''): Promise<number> {
  const metric = await registry.getSingleMetric(name)!.get();
  const match = metric.values.find(
    (v) => (v as { metricName?: string }).metricName === `${name}${suffix}` && Object.entries(labels).every(([k, l]) => v.labels[k] === l),
  );
  return match?.value ?? metric.values.find((v) => !suffix && Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

/** Version in a last-known-good file, undefined while it does not exist yet. */
function lkgVersion(path: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { version: number }).version;
  } catch {
    return undefined;
  }
}

const parseNode = (text: string | undefined) => (text ? (JSON.parse(text) as NodeRecord) : undefined);

test('a node serves each applied snapshot, reports it under nodes/<id> and keeps a last-known-good copy', async () => {
  const prefix = `/cw-${++n}/`;
  const admin = store(prefix);
  await publishSnapshot(admin, meshConfig(['a']));
  const lkgPath = join(dir, 'n1', 'lkg.json');
  const n1 = node(prefix, 'n1', { lkgPath });
  const propagatedBefore = await metricValue('meshgate_config_propagation_seconds', { role: 'sidecar' }, '_count');
  await n1.watch.start();
  assert.equal(n1.watch.ready, true);
  assert.equal(n1.holder.current!.version, 1);
  assert.equal(n1.watch.status().source, 'store');
  const { mirror } = await WatchMirror.on(admin, 'nodes/');
  await mirror.until((s) => parseNode(s.get('nodes/n1'))?.version === 1);

  const second = await publishSnapshot(admin, meshConfig(['a', 'b']), { message: 'add b' });
  await n1.serving(2);
  assert.ok(n1.holder.current!.routesByName.has('b'));
  await mirror.until((s) => parseNode(s.get('nodes/n1'))?.version === 2);
  const record = parseNode(mirror.state.get('nodes/n1'))!;
  assert.equal(record.role, 'sidecar');
  assert.equal(record.service, 'svc');
  assert.equal(record.digest, second.digest);
  assert.equal(record.pid, process.pid);
  assert.ok(typeof record.lagMs === 'number' && record.lagMs >= 0);
  assert.ok(record.appliedAt && !Number.isNaN(Date.parse(record.appliedAt)));
  assert.equal(await metricValue('meshgate_config_version', { role: 'sidecar' }), 2);
  assert.equal(await metricValue('meshgate_config_propagation_seconds', { role: 'sidecar' }, '_count'), propagatedBefore + 1, 'the apply made while watching was measured, the one before start was not');
  await waitFor(() => lkgVersion(lkgPath) === 2, 'the last-known-good file to hold version 2');
  assert.equal(readFileSync(lkgPath, 'utf8'), await admin.get('config/current'));

  await n1.watch.stop();
  await mirror.until((s) => !s.has('nodes/n1'), 5_000, 'a stopped node to leave nodes/ at once');
});

test('an invalid snapshot is refused (log, metric, status) while the old one keeps serving', async () => {
  const prefix = `/cw-${++n}/`;
  const admin = store(prefix);
  await publishSnapshot(admin, meshConfig(['a']));
  const lkgPath = join(dir, 'n2.json');
  const n2 = node(prefix, 'n2', { lkgPath });
  await n2.watch.start();
  const served = n2.holder.current!;
  await waitFor(() => lkgVersion(lkgPath) === 1, 'the LKG file');
  const rejectedBefore = await metricValue('meshgate_config_rejected_total', { role: 'sidecar' });

  // A record that parses but does not validate (unknown backend), then one that is not even JSON.
  const broken = { version: 2, digest: 'sha256:x', author: 't', message: 'broken', createdAt: new Date().toISOString(), config: meshConfig(['a']) };
  broken.config.routes[0].backendRefs = [{ name: 'nowhere' }];
  await admin.put('config/current', JSON.stringify(broken));
  await waitFor(() => n2.watch.status().rejected === 1, 'the broken snapshot to be refused');
  await admin.put('config/current', '{ not json');
  await waitFor(() => n2.watch.status().rejected === 2, 'the garbage to be refused');
  assert.equal(n2.holder.current, served, 'the old snapshot object is still the one served');
  assert.equal(n2.watch.status().version, 1);
  assert.equal(await metricValue('meshgate_config_rejected_total', { role: 'sidecar' }), rejectedBefore + 2);
  assert.equal(lkgVersion(lkgPath), 1, 'a refused snapshot never becomes last-known-good');

  // A valid apply after the garbage is served again.
  await admin.put('config/current', JSON.stringify({ ...broken, version: 2, config: meshConfig(['a', 'c']) }));
  await n2.serving(2);
  assert.ok(n2.holder.current!.routesByName.has('c'));
});

test('with etcd down a node boots from last-known-good, then catches up when etcd is back', async () => {
  const prefix = `/cw-${++n}/`;
  const admin = store(prefix);
  await publishSnapshot(admin, meshConfig(['a']));
  const lkgPath = join(dir, 'n3.json');
  const first = node(prefix, 'n3', { lkgPath });
  await first.watch.start();
  await waitFor(() => lkgVersion(lkgPath) === 1, 'the LKG file');
  await first.watch.stop();
  // The fleet moves on while this node is down.
  await publishSnapshot(admin, meshConfig(['a', 'b']));

  await etcd.stop();
  try {
    const again = node(prefix, 'n3', { lkgPath });
    await again.watch.start();
    assert.equal(again.watch.ready, true);
    assert.equal(again.watch.status().source, 'last-known-good');
    assert.equal(again.holder.current!.version, 1);
    assert.equal(again.store.connected, false);

    await etcd.start();
    await again.serving(2, 20_000);
    assert.equal(again.watch.status().source, 'store');
    assert.ok(again.holder.current!.routesByName.has('b'));
    const { mirror } = await WatchMirror.on(admin, 'nodes/');
    await mirror.until((s) => parseNode(s.get('nodes/n3'))?.version === 2, 20_000, 'the node to register once etcd is back');
  } finally {
    await etcd.start();
  }
});

test('a node with neither store nor last-known-good waits, then serves the first apply', async () => {
  const prefix = `/cw-${++n}/`;
  const admin = store(prefix);
  const n4 = node(prefix, 'n4');
  let started = false;
  const starting = n4.watch.start().then(() => (started = true));
  const { mirror } = await WatchMirror.on(admin, 'nodes/');
  await mirror.until((s) => s.has('nodes/n4'), 15_000, 'the waiting node to register');
  assert.equal(started, false);
  assert.equal(n4.watch.ready, false);
  await publishSnapshot(admin, meshConfig(['first']));
  await starting;
  assert.equal(n4.holder.current!.version, 1);
});

test('a node follows applies across an etcd restart and across a compaction while cut off; its lease comes back', async () => {
  const prefix = `/cw-${++n}/`;
  const admin = store(prefix);
  await publishSnapshot(admin, meshConfig(['a']));
  const proxy = await startTcpProxy('127.0.0.1', Number(new URL(etcd.endpoint).port));
  cleanup.push(() => proxy.close());
  const n5 = node(prefix, 'n5', { endpoint: `http://${proxy.address}` });
  await n5.watch.start();

  await etcd.stop();
  await etcd.start();
  await publishSnapshot(admin, meshConfig(['a', 'after-restart']));
  await n5.serving(2, 20_000);

  proxy.cut();
  await waitFor(() => !n5.store.connected, 'the node to notice the cut');
  await publishSnapshot(admin, meshConfig(['a', 'b3']), { allowRemovals: true });
  await publishSnapshot(admin, meshConfig(['a', 'b4']), { allowRemovals: true });
  const { header } = await raw.get(`${prefix}config/current`).exec();
  await raw.kv.compact({ revision: header.revision, physical: true });
  // Cut longer than the node lease TTL (1 s): the node record expires meanwhile.
  const { mirror } = await WatchMirror.on(admin, 'nodes/');
  await mirror.until((s) => !s.has('nodes/n5'), 10_000, 'the cut-off node lease to expire');
  proxy.restore();
  await n5.serving(4, 20_000);
  assert.deepEqual([...n5.holder.current!.routesByName.keys()].sort(), ['a', 'b4']);
  await mirror.until((s) => parseNode(s.get('nodes/n5'))?.version === 4, 20_000, 'the node to re-register after its lease was lost');
});

test('a node that dies without stopping disappears from nodes/ when its lease expires', async () => {
  const prefix = `/cw-${++n}/`;
  const admin = store(prefix);
  await publishSnapshot(admin, meshConfig(['a']));
  const n6 = node(prefix, 'n6');
  await n6.watch.start();
  const { mirror } = await WatchMirror.on(admin, 'nodes/');
  await mirror.until((s) => s.has('nodes/n6'));
  // Closing the store stops keepalives without revoking: what a crashed process leaves behind.
  await n6.store.close();
  await mirror.until((s) => !s.has('nodes/n6'), 10_000, 'the dead node to expire');
});
