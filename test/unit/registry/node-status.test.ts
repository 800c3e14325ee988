// rollout(): who serves the target version, who is behind, and when a rollout counts as complete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatRollout, liveView, parseNodes, rollout } from '../../../registry/node-status.js';
import { configDigest } from '../../../core/config/snapshot.js';
import { meshConfig } from '../../support/mesh-config.js';
import type { NodeRecord } from '../../../core/config/config-watch.js';

const node = (id: string, version: number | undefined, role: 'edge' | 'sidecar' = 'edge'): NodeRecord => ({
  id,
  role,
  version,
  pid: 1,
  host: 'h',
  source: 'store',
  appliedAt: '2026-01-01T00:00:00.000Z',
  lagMs: 12,
});

test('complete when every live node serves the target or newer', () => {
  const r = rollout([node('a', 3), node('b', 4)], { version: 3, digest: 'sha256:abc' });
  assert.equal(r.complete, true);
  assert.equal(r.serving, 2);
  assert.deepEqual(r.behind, []);
});

test('a node behind (or without a snapshot) keeps the rollout incomplete, and is named', () => {
  const r = rollout([node('a', 3), node('b', 2), node('c', undefined)], { version: 3, digest: 'sha256:abc' });
  assert.equal(r.complete, false);
  assert.deepEqual(r.behind.map((n) => n.id), ['b', 'c']);
  assert.equal(rollout([node('a', 3)], undefined, 4).complete, false, 'an explicit target above what is served');
});

test('no live nodes is never complete', () => {
  assert.equal(rollout([], { version: 1, digest: 'sha256:x' }).complete, false);
});

test('parseNodes skips foreign values and sorts by role then id; the table has a row per node and a summary', () => {
  const nodes = parseNodes([
    ['nodes/z', JSON.stringify(node('z', 1, 'sidecar'))],
    ['nodes/junk', 'not json'],
    ['nodes/a', JSON.stringify(node('a', 1))],
  ]);
  assert.deepEqual(nodes.map((n) => n.id), ['a', 'z']);
  const lines = formatRollout(rollout(nodes, { version: 1, digest: 'sha256:0123456789abcdef0123' }), Date.parse('2026-01-01T00:00:30.000Z'));
  assert.match(lines[0], /^NODE\s+ROLE\s+SERVICE\s+VERSION\s+APPLIED\s+LAG\s+SOURCE$/);
  assert.match(lines[1], /^a\s+edge\s+-\s+1\s+30s ago\s+12ms\s+store$/);
  assert.equal(lines.at(-1), 'live version 1 (sha256:0123456789ab…); 2/2 node(s) serve version 1 or newer');
});

test('the live line never prints "undefined": a record the nodes refuse is named so, with the reason; a missing digest is computed as the nodes do', () => {
  const nodes = [node('a', 6)];
  const garbage = liveView(JSON.stringify({ version: 7, config: 'garbage' }));
  assert.equal(garbage?.version, 7);
  assert.ok(garbage?.refused);
  const refused = formatRollout(rollout(nodes, garbage)).at(-1)!;
  assert.doesNotMatch(refused, /undefined/);
  assert.match(refused, /^live version 7 is refused by the nodes \(config.*\); each serves the last snapshot it took; 0\/1 node\(s\) serve version 7 or newer$/);
  const notJson = formatRollout(rollout(nodes, liveView('{not json'))).at(-1)!;
  assert.match(notJson, /^config\/current is refused by the nodes \(\(root\): snapshot is not JSON: .*\); each serves/);

  const config = meshConfig(['a']);
  const noDigest = liveView(JSON.stringify({ version: 8, config }));
  assert.deepEqual(noDigest, { version: 8, digest: configDigest(config) });
  assert.equal(formatRollout(rollout(nodes, noDigest)).at(-1), `live version 8 (${configDigest(config).slice(0, 19)}…); 0/1 node(s) serve version 8 or newer`);
  assert.match(formatRollout(rollout(nodes, { version: 9 })).at(-1)!, /^live version 9 \(no digest\)/);
  assert.equal(liveView(undefined), undefined);
});
