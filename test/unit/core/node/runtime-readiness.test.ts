// NodeRuntime's /readyz on a real admin port: not ready until the listeners are up, while draining, and while an
// extra condition (the sidecar's auth state) reports `ready: false`; `notReady` names every reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../../../core/store/memory-store.js';
import { NodeRuntime } from '../../../../core/node/runtime.js';
import { publishSnapshot } from '../../../../registry/publish.js';
import type { MeshConfig } from '../../../../core/config/schema.js';

const CONFIG = {
  apiVersion: 'meshgate/v1',
  services: [{ name: 'svc', endpoints: ['127.0.0.1:1'] }],
  routes: [{ name: 'r', matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'svc' }] }],
} as MeshConfig;

async function readyz(runtime: NodeRuntime): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${runtime.admin.port}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('/readyz: listeners, drain and an extra condition reporting ready: false each hold the node not ready', async () => {
  const store = new MemoryStore();
  await publishSnapshot(store, CONFIG, { author: 'test' });
  const auth = { ready: true, stale: false };
  const runtime = new NodeRuntime({
    store,
    role: 'sidecar',
    nodeId: 'n1',
    service: 'svc',
    host: '127.0.0.1',
    adminPort: 0,
    readyDetail: () => ({ auth: { ...auth }, quota: { state: 'ok' } }),
  });
  await runtime.start();
  try {
    let r = await readyz(runtime);
    assert.equal(r.status, 503);
    assert.deepEqual(r.body.notReady, ['listeners']);

    runtime.markListening();
    r = await readyz(runtime);
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'ready');
    assert.deepEqual(r.body.notReady, []);
    assert.deepEqual(r.body.quota, { state: 'ok' }, 'detail without a ready flag is shown, not a condition');

    Object.assign(auth, { ready: false, stale: true });
    r = await readyz(runtime);
    assert.equal(r.status, 503);
    assert.equal(r.body.status, 'not ready');
    assert.deepEqual(r.body.notReady, ['auth']);
    assert.deepEqual(r.body.auth, { ready: false, stale: true }, 'the condition keeps its detail');

    runtime.draining = true;
    r = await readyz(runtime);
    assert.deepEqual(r.body.notReady, ['draining', 'auth']);

    Object.assign(auth, { ready: true, stale: false });
    runtime.draining = false;
    assert.equal((await readyz(runtime)).status, 200);
  } finally {
    await runtime.stop();
    await store.close();
  }
});
