// startSidecarAuth's status(): `ready` is false while keys and revocations were never loaded from the store, and once
// the store has been unreachable past the staleness bound (the conditions under which authenticated routes answer
// 503 auth_unavailable); true once the mirrors are read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTick } from 'node:timers/promises';
import { MemoryStore } from '../../../../core/store/memory-store.js';
import type { Store } from '../../../../core/store/store.js';
import { startSidecarAuth } from '../../../../core/auth/sidecar-auth.js';
import { SignJWT } from 'jose';
import { authChain, publishTestKey } from '../../../support/auth-fixtures.js';
import { storeDownAtStart } from '../../../support/store-down-at-start.js';

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

test('started while the store is down (last-known-good config): a valid token gets 503 auth_unavailable, not 401, and the node is not ready until keys and revocations are read', async () => {
  const memory = new MemoryStore();
  const key = await publishTestKey(memory, 'ES256', 'https://issuer.test');
  const token = await new SignJWT({ sub: 'alice' })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid })
    .setIssuer('https://issuer.test')
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(key.privateKey);
  const down = storeDownAtStart(memory);
  let authenticates = true;
  const auth = await startSidecarAuth(down.store, { staleAfterMs: 10_000, authenticates: () => authenticates });
  const check = authChain(auth);
  try {
    const { ready, loaded, stale, keys } = auth.status();
    assert.deepEqual({ ready, loaded, stale, keys }, { ready: false, loaded: false, stale: true, keys: 0 });
    const refused = await check(token);
    assert.deepEqual({ status: refused.status, code: refused.code }, { status: 503, code: 'auth_unavailable' });
    authenticates = false;
    assert.equal(auth.status().ready, true, 'a node with only public routes does not wait for keys');
    authenticates = true;
    await down.up();
    assert.deepEqual({ ready: auth.status().ready, loaded: auth.status().loaded, keys: auth.status().keys }, { ready: true, loaded: true, keys: 1 });
    assert.deepEqual(await check(token), { status: 200, subject: 'alice' });
  } finally {
    await auth.close();
    await memory.close();
  }
});

test('revocations read but keys not yet: still 503 auth_unavailable (not 401 "no matching signing key")', async () => {
  const memory = new MemoryStore();
  const key = await publishTestKey(memory, 'ES256', 'https://issuer.test');
  const token = await new SignJWT({ sub: 'alice' })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid })
    .setIssuer('https://issuer.test')
    .setExpirationTime('10m')
    .sign(key.privateKey);
  const down = storeDownAtStart(memory);
  const auth = await startSidecarAuth(down.store);
  try {
    await down.up({ watches: false }); // reachable: the revocation list reads revoked/ itself; the key watch has not re-read
    auth.status();
    await nextTick();
    assert.equal(auth.status().stale, true);
    assert.equal((await authChain(auth)(token)).code, 'auth_unavailable');
  } finally {
    await auth.close();
    await memory.close();
  }
});
