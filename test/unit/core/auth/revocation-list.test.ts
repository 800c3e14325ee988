// RevocationList: O(1) checks by jti, subject-before-T, kid and opaque hash; re-reads never un-revoke; staleness.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTick } from 'node:timers/promises';
import { MemoryStore } from '../../../../core/store/memory-store.js';
import type { Store, WatchEvent } from '../../../../core/store/store.js';
import { RevocationList } from '../../../../core/auth/revocation-list.js';
import { revocationStoreKey, type RevocationRecord } from '../../../../core/auth/revocation-record.js';
import { storeDownAtStart } from '../../../support/store-down-at-start.js';

const token = (o: Partial<{ jti: string; sub: string; iat: number; kid: string; opaqueHash: string }> = {}) => ({
  jti: undefined,
  sub: 'alice',
  iat: 1000,
  kid: undefined,
  opaqueHash: undefined,
  ...o,
});

function record(kind: RevocationRecord['kind'], id: string, extra: Partial<RevocationRecord> = {}): string {
  return JSON.stringify({ kind, id, revokedAt: 0, expiresAt: 0, ...extra });
}

test('jti, kid, opaque and subject-before-T revocations; deleting the entry lifts it', async () => {
  const store = new MemoryStore();
  const list = await RevocationList.watch(store);
  try {
    assert.equal(list.isRevoked(token({ jti: 'j1' })), false);
    await store.put(revocationStoreKey('jti', 'j1'), record('jti', 'j1'));
    await store.put(revocationStoreKey('kid', 'k/1'), record('kid', 'k/1'));
    await store.put(revocationStoreKey('opaque', 'ab'), record('opaque', 'ab'));
    await store.put(revocationStoreKey('sub', 'bob'), record('sub', 'bob', { before: 2000 }));
    assert.equal(list.isRevoked(token({ jti: 'j1' })), true);
    assert.equal(list.isRevoked(token({ jti: 'j2' })), false);
    assert.equal(list.isRevoked(token({ kid: 'k/1' })), true, 'ids with slashes are encoded in the key and decoded back');
    assert.equal(list.isRevoked(token({ opaqueHash: 'ab' })), true);
    assert.equal(list.isRevoked(token({ sub: 'bob', iat: 1999 })), true, 'issued before T');
    assert.equal(list.isRevoked(token({ sub: 'bob', iat: 2000 })), false, 'issued at or after T');
    assert.equal(list.isRevoked(token({ sub: 'bob', iat: undefined })), true, 'no iat counts as before');
    assert.equal(list.size, 4);
    await store.delete(revocationStoreKey('jti', 'j1'));
    assert.equal(list.isRevoked(token({ jti: 'j1' })), false);
  } finally {
    await list.close();
  }
});

test('an unreadable entry still revokes its id; a subject entry without before revokes everything of that subject', async () => {
  const store = new MemoryStore();
  const list = await RevocationList.watch(store);
  try {
    await store.put(revocationStoreKey('jti', 'x'), '{not json');
    await store.put(revocationStoreKey('sub', 'carol'), record('sub', 'carol'));
    await store.put('revoked/unknown-kind/y', record('jti', 'y'));
    assert.equal(list.isRevoked(token({ jti: 'x' })), true);
    assert.equal(list.isRevoked(token({ sub: 'carol', iat: 10 ** 10 })), true);
    assert.equal(list.size, 2);
  } finally {
    await list.close();
  }
});

test('a store re-read (reset + puts) never leaves a moment where a revoked token passes', async () => {
  let emit: ((e: WatchEvent) => void) | undefined;
  const memory = new MemoryStore();
  const store = new Proxy(memory, {
    get: (target, prop) =>
      prop === 'watch'
        ? async (prefix: string, listener: (e: WatchEvent) => void) => {
            emit = listener;
            return target.watch(prefix, listener);
          }
        : Reflect.get(target, prop, target),
  }) as Store;
  const list = await RevocationList.watch(store);
  try {
    emit!({ type: 'put', key: revocationStoreKey('jti', 'a'), value: record('jti', 'a') });
    emit!({ type: 'put', key: revocationStoreKey('jti', 'b'), value: record('jti', 'b') });
    // etcd reconnected: reset, then the current state (only `a` is still there).
    emit!({ type: 'reset' });
    assert.equal(list.isRevoked(token({ jti: 'a' })), true, 'still revoked right after the reset');
    assert.equal(list.isRevoked(token({ jti: 'b' })), true, 'still revoked until the re-read is complete');
    emit!({ type: 'put', key: revocationStoreKey('jti', 'a'), value: record('jti', 'a') });
    await nextTick();
    assert.equal(list.isRevoked(token({ jti: 'a' })), true);
    assert.equal(list.isRevoked(token({ jti: 'b' })), false, 'what the re-read did not bring back is dropped');
  } finally {
    await list.close();
  }
});

test('listeners hear every revocation (for cache eviction)', async () => {
  const store = new MemoryStore();
  const list = await RevocationList.watch(store);
  const heard: string[] = [];
  const off = list.onRevoked((r) => heard.push(`${r.kind}:${r.id}`));
  await store.put(revocationStoreKey('jti', 'j'), record('jti', 'j'));
  await store.put(revocationStoreKey('sub', 's'), record('sub', 's', { before: 5 }));
  off();
  await store.put(revocationStoreKey('kid', 'k'), record('kid', 'k'));
  assert.deepEqual(heard, ['jti:j', 'sub:s']);
  await list.close();
});

test('staleness: stale only after the store has been unreachable longer than the bound; fresh once back and re-read', async () => {
  const memory = new MemoryStore();
  const state = { connected: true };
  const store = new Proxy(memory, { get: (t, prop) => (prop === 'connected' ? state.connected : Reflect.get(t, prop, t)) }) as Store;
  let now = 1_000_000;
  const list = await RevocationList.watch(store, { staleAfterMs: 10_000, now: () => now });
  try {
    assert.equal(list.stale, false);
    state.connected = false;
    assert.equal(list.stale, false, 'just lost');
    now += 9_999;
    assert.equal(list.stale, false);
    now += 2;
    assert.equal(list.stale, true);
    assert.equal(list.status().disconnectedForMs, 10_001);
    state.connected = true;
    assert.equal(list.stale, true, 'back, re-reading');
    await nextTick();
    assert.equal(list.stale, false);
    assert.equal(list.status().disconnectedForMs, 0);
    state.connected = false;
    now += 5_000;
    assert.equal(list.stale, false, 'the bound restarts with each disconnection');
  } finally {
    await list.close();
  }
});

test('reachable again is not fresh again: stale until the revocations missed meanwhile are read back in', async () => {
  const memory = new MemoryStore();
  const state = { connected: true };
  // A watch that loses the events sent while "disconnected", as a dropped etcd stream would.
  const store = new Proxy(memory, {
    get: (target, prop) => {
      if (prop === 'connected') return state.connected;
      if (prop === 'watch')
        return (prefix: string, listener: (e: WatchEvent) => void) => target.watch(prefix, (e) => void (state.connected && listener(e)));
      return Reflect.get(target, prop, target);
    },
  }) as Store;
  let now = 5_000_000;
  const list = await RevocationList.watch(store, { staleAfterMs: 1000, now: () => now });
  try {
    state.connected = false;
    assert.equal(list.stale, false);
    await memory.put(revocationStoreKey('jti', 'missed'), record('jti', 'missed'));
    now += 2000;
    assert.equal(list.stale, true);
    state.connected = true;
    assert.equal(list.isRevoked(token({ jti: 'missed' })), false, 'the watch never delivered it');
    assert.equal(list.stale, true, 'connected, but the mirror has not caught up: still failing closed');
    await nextTick();
    await nextTick();
    assert.equal(list.isRevoked(token({ jti: 'missed' })), true, 'read back in after reconnecting');
    assert.equal(list.stale, false);
  } finally {
    await list.close();
  }
});

test('never loaded (started while the store is down): stale at once, not after the bound; fresh once revoked/ is read', async () => {
  const memory = new MemoryStore();
  await memory.put(revocationStoreKey('jti', 'old'), record('jti', 'old'));
  const down = storeDownAtStart(memory);
  let now = 7_000_000;
  const list = await RevocationList.watch(down.store, { staleAfterMs: 10_000, now: () => now });
  try {
    assert.equal(list.stale, true, 'nothing was ever read: fail closed from the first request');
    assert.deepEqual({ loaded: list.status().loaded, stale: list.status().stale }, { loaded: false, stale: true });
    now += 60_000;
    assert.equal(list.stale, true);
    await down.up();
    assert.equal(list.isRevoked(token({ jti: 'old' })), true, 'the re-read brought it');
    assert.equal(list.stale, false);
    assert.equal(list.status().loaded, true);
  } finally {
    await list.close();
  }
});

test('never loaded: reachable again, the list reads revoked/ itself even before its watch re-reads', async () => {
  const memory = new MemoryStore();
  await memory.put(revocationStoreKey('jti', 'old'), record('jti', 'old'));
  const down = storeDownAtStart(memory);
  const list = await RevocationList.watch(down.store, { staleAfterMs: 10_000 });
  try {
    await down.up({ watches: false });
    assert.equal(list.stale, true, 'reachable, not read yet');
    await nextTick();
    assert.equal(list.isRevoked(token({ jti: 'old' })), true);
    assert.equal(list.stale, false);
  } finally {
    await list.close();
  }
});

test('not loaded while what othersLoaded names (the key set) has not been read yet', async () => {
  const store = new MemoryStore();
  let keysLoaded = false;
  const list = await RevocationList.watch(store, { othersLoaded: () => keysLoaded });
  try {
    assert.equal(list.stale, true);
    assert.equal(list.status().loaded, false);
    keysLoaded = true;
    assert.equal(list.stale, false);
  } finally {
    await list.close();
  }
});
