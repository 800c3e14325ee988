// ConfigWatch's nodes/<id> report: it follows a swap after a short jittered delay (never the swap itself), a
// burst of swaps inside that delay is one write saying the newest version, and a record whose lease was lost
// while the store was away is back as soon as the store answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../../../core/store/memory-store.js';
import { ConfigWatch, CONFIG_KEY, REPORT_DELAY_MS, REPORT_JITTER_MS, type NodeRecord } from '../../../../core/config/config-watch.js';
import { SnapshotHolder, configDigest, type SnapshotRecord } from '../../../../core/config/snapshot.js';
import { meshConfig } from '../../../support/mesh-config.js';
import { FlakyStore } from '../../../support/flaky-store.js';

function record(version: number, routes: string[]): string {
  const config = meshConfig(routes);
  return JSON.stringify({ version, digest: configDigest(config), author: 't', message: '', createdAt: new Date().toISOString(), config } satisfies SnapshotRecord);
}

/** Let pending immediates and promise chains (store puts, the serialized report) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

test('swaps are reported under nodes/<id> after a short delay, a burst as one write of the newest', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const store = new MemoryStore();
  await store.put(CONFIG_KEY, record(1, ['a']));
  const holder = new SnapshotHolder();
  const watch = new ConfigWatch({ store, holder, role: 'edge', nodeId: 'r1' });
  await watch.start();
  t.mock.timers.tick(REPORT_DELAY_MS + REPORT_JITTER_MS);
  await settle();
  assert.equal((JSON.parse((await store.get('nodes/r1'))!) as NodeRecord).version, 1, 'registered with the boot snapshot');

  const reports: number[] = [];
  await store.watch('nodes/', (e) => e.type === 'put' && reports.push((JSON.parse(e.value) as NodeRecord).version!));
  reports.length = 0;
  for (const version of [2, 3, 4]) {
    await store.put(CONFIG_KEY, record(version, ['a', `r${version}`]));
    await settle();
    assert.equal(holder.current!.version, version, 'the swap is not delayed');
  }
  assert.deepEqual(reports, [], 'not reported yet');
  t.mock.timers.tick(REPORT_DELAY_MS + REPORT_JITTER_MS);
  await settle();
  assert.deepEqual(reports, [4]);
  const node = JSON.parse((await store.get('nodes/r1'))!) as NodeRecord;
  assert.equal(node.version, 4);
  assert.equal(node.appliedAt, watch.status().appliedAt, 'appliedAt is the swap time, not the report time');
  t.mock.timers.reset();
  await watch.stop();
});

test('nodes/<id> lost while the store was away is back as soon as the store is reachable, not on the backoff timer', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] }); // the backoff timer never fires unless the test ticks it
  const memory = new MemoryStore();
  await memory.put(CONFIG_KEY, record(1, ['a']));
  const flaky = new FlakyStore(memory);
  const watch = new ConfigWatch({ store: flaky.store, holder: new SnapshotHolder(), role: 'sidecar', nodeId: 's1' });
  await watch.start();
  await settle();
  assert.ok(await memory.get('nodes/s1'));
  flaky.down();
  await flaky.loseLeases(); // etcd expired it; the node tries again at once, and fails: etcd is still away
  await settle();
  assert.equal(await memory.get('nodes/s1'), undefined);
  flaky.up();
  await settle();
  assert.equal((JSON.parse((await memory.get('nodes/s1'))!) as NodeRecord).version, 1, 'back with no timer fired');
  t.mock.timers.reset();
  await watch.stop();
});
