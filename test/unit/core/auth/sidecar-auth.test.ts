// startSidecarAuth's status(): `ready` turns false once the store has been unreachable past the staleness bound
// (the condition under which authenticated routes answer 503 auth_unavailable) and true once the mirror is re-read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTick } from 'node:timers/promises';
import { MemoryStore } from '../../../../core/store/memory-store.js';
import type { Store } from '../../../../core/store/store.js';
import { startSidecarAuth } from '../../../../core/auth/sidecar-auth.js';

test('status: ready while the revocation mirror is fresh, not ready while it is stale, ready again once re-read', async () => {
  const memory = new MemoryStore();
  const state = { connected: true };
  const store = new Proxy(memory, { get: (t, prop) => (prop === 'connected' ? state.connected : Reflect.get(t, prop, t)) }) as Store;
  let now = 1_000_000;
  const auth = await startSidecarAuth(store, { staleAfterMs: 10_000, now: () => now });
  try {
    assert.deepEqual({ ready: auth.status().ready, stale: auth.status().stale }, { ready: true, stale: false });
    state.connected = false;
    assert.equal(auth.status().ready, true, 'just lost (the bound starts when the loss is seen)');
    now += 10_000;
    assert.equal(auth.status().ready, true, 'unreachable, but within the bound');
    now += 1;
    const stale = auth.status();
    assert.equal(stale.ready, false);
    assert.equal(stale.stale, true);
    assert.equal(stale.storeConnected, false);
    assert.equal(stale.disconnectedForMs, 10_001);
    state.connected = true;
    assert.equal(auth.status().ready, false, 'reachable again but not yet re-read');
    await nextTick();
    assert.equal(auth.status().ready, true);
  } finally {
    await auth.close();
    await memory.close();
  }
});
