// A sidecar's auth state in /readyz and on its routes, in process: started from its last-known-good config while the
// store is down, it refuses tokens with 503 auth_unavailable and is not ready while it serves a route with auth, and
// is ready when none of its routes authenticates; --auth-stale-after reaches the bound, and a bad value exits 2
// naming the flag (commander's line, then its --help hint).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import type { MeshConfig } from '../../core/config/schema.js';
import { configDigest } from '../../core/config/snapshot.js';
import { MemoryStore } from '../../core/store/memory-store.js';
import { startSidecar, type SidecarNode } from '../../sidecar/main.js';
import { storeDownAtStart } from '../support/store-down-at-start.js';
import { runMeshgate } from '../support/spawn-mesh.js';

let dir: string;
const nodes: SidecarNode[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshgate-sidecar-auth-state-'));
});

after(async () => {
  for (const node of nodes) await node.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

function config(auth: boolean): MeshConfig {
  return {
    apiVersion: 'meshgate/v1',
    services: [{ name: 'echo' }],
    routes: [{ name: 'r', matches: [{ path: { type: 'PathPrefix', value: '/r' } }], backendRefs: [{ name: 'echo' }], ...(auth && { auth: {} }) }],
  } as MeshConfig;
}

/** A sidecar whose store is down, booted from a last-known-good file holding `mesh`. */
async function bootFromLastKnownGood(nodeId: string, mesh: MeshConfig, authStaleAfterMs?: number): Promise<SidecarNode> {
  const record = { version: 3, digest: configDigest(mesh), author: 't', message: '', createdAt: new Date().toISOString(), config: mesh };
  writeFileSync(join(dir, `${nodeId}.last-known-good.json`), JSON.stringify(record));
  const down = storeDownAtStart(new MemoryStore());
  const node = await startSidecar({
    store: down.store,
    endpoints: { list: () => [] },
    service: 'echo',
    app: '127.0.0.1:9',
    nodeId,
    inboundPort: 0,
    outboundPort: 0,
    adminPort: 0,
    stateDir: dir,
    authStaleAfterMs,
  });
  nodes.push(node);
  return node;
}

async function readyz(node: SidecarNode): Promise<{ status: number; body: any }> {
  const res = await request(`http://127.0.0.1:${node.adminPort}/readyz`);
  return { status: res.statusCode, body: await res.body.json() };
}

test('a route with auth: not ready, and a token gets 503 auth_unavailable, until keys and revocations are read', async () => {
  const node = await bootFromLastKnownGood('lkg-auth', config(true), 2_500);
  const ready = await readyz(node);
  assert.equal(ready.status, 503);
  assert.ok(ready.body.notReady.includes('auth'), JSON.stringify(ready.body));
  assert.deepEqual({ loaded: ready.body.auth.loaded, keys: ready.body.auth.keys, staleAfterMs: ready.body.auth.staleAfterMs }, { loaded: false, keys: 0, staleAfterMs: 2_500 });
  const res = await request(`http://127.0.0.1:${node.inboundPort}/r/x`, { headers: { authorization: 'Bearer a.b.c' } });
  assert.equal(res.statusCode, 503);
  assert.ok(res.headers['retry-after']);
  assert.equal(((await res.body.json()) as { error: { code: string } }).error.code, 'auth_unavailable');
});

test('no route with auth: ready without keys (as an Envoy listener without a JWT filter)', async () => {
  const node = await bootFromLastKnownGood('lkg-public', config(false));
  const ready = await readyz(node);
  assert.equal(ready.status, 200, JSON.stringify(ready.body));
  assert.equal(ready.body.auth.loaded, false);
  assert.equal(ready.body.auth.staleAfterMs, 10_000, 'the default bound');
});

test('--auth-stale-after or MESHGATE_AUTH_STALE_AFTER that is not a duration: a line naming the flag, exit 2', async () => {
  for (const [args, env] of [
    [['--auth-stale-after', 'soon'], {}],
    [[], { MESHGATE_AUTH_STALE_AFTER: '10' }],
  ] as const) {
    const r = await runMeshgate(['sidecar', '--service', 'echo', '--etcd', 'http://127.0.0.1:9', ...args], { ...env, MESHGATE_STATE_DIR: dir }, 30_000);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr.split('\n')[0], /^error: option '--auth-stale-after <duration>' .* is invalid\. ".*" is not a duration/);
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  }
});
