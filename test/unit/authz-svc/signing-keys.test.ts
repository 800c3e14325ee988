// SigningKeys: claims of issued tokens, lifetime bounds, and the key records it leaves in the store across rotations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeProtectedHeader } from 'jose';
import { MemoryStore } from '../../../core/store/memory-store.js';
import { keyStoreKey, type KeyRecord } from '../../../core/auth/key-record.js';
import { SigningKeys } from '../../../authz-svc/signing-keys.js';
import { WatchMirror } from '../../support/watch-mirror.js';
import { claimsOf } from '../../support/auth-fixtures.js';

test('issued tokens: registered claims set by the issuer, never by the caller; typ at+jwt; unique jti', async () => {
  const store = new MemoryStore();
  const now = 1_800_000_000_000;
  for (const algorithm of ['ES256', 'RS256', 'EdDSA'] as const) {
    const keys = await SigningKeys.create(store, { issuer: 'https://i', algorithm, audience: 'default-aud', now: () => now });
    const token = await keys.issue({ sub: 'alice', scope: 'a b', clientId: 'c', ttlSeconds: 120, claims: { tenant: 'acme', sub: 'root', exp: 9e9, iss: 'evil' } });
    const claims = claimsOf(token);
    assert.deepEqual(
      { iss: claims.iss, sub: claims.sub, aud: claims.aud, scope: claims.scope, client_id: claims.client_id, tenant: claims.tenant, iat: claims.iat, nbf: claims.nbf, exp: claims.exp },
      { iss: 'https://i', sub: 'alice', aud: 'default-aud', scope: 'a b', client_id: 'c', tenant: 'acme', iat: now / 1000, nbf: now / 1000, exp: now / 1000 + 120 },
    );
    assert.match(claims.jti, /^[0-9a-f-]{36}$/);
    assert.notEqual(claimsOf(await keys.issue({ sub: 'alice' })).jti, claims.jti);
    assert.deepEqual(decodeProtectedHeader(token), { alg: algorithm, kid: keys.kid, typ: 'at+jwt' });
    await keys.close();
  }
});

test('lifetimes outside 1..maxTtl and an empty sub are refused', async () => {
  const keys = await SigningKeys.create(new MemoryStore(), { issuer: 'i', maxTtlSeconds: 600 });
  assert.equal(keys.defaultTtl, 600, 'the default never exceeds the maximum');
  await assert.rejects(keys.issue({ sub: 'a', ttlSeconds: 601 }), RangeError);
  await assert.rejects(keys.issue({ sub: 'a', ttlSeconds: 0 }), RangeError);
  await assert.rejects(keys.issue({ sub: 'a', ttlSeconds: 1.5 }), RangeError);
  await assert.rejects(keys.issue({ sub: '' }), RangeError);
  await keys.close();
});

test('records: active and next published with notAfter beyond any token they can sign; a retired key keeps its last exp', async () => {
  const store = new MemoryStore();
  let now = 1_800_000_000_000;
  const keys = await SigningKeys.create(store, { issuer: 'https://i', maxTtlSeconds: 3600, skewSeconds: 30, now: () => now });
  const read = async (kid: string) => JSON.parse((await store.get(keyStoreKey(kid)))!) as KeyRecord;
  for (const kid of [keys.kid, keys.nextKid]) {
    const r = await read(kid);
    assert.ok(r.notAfter >= now / 1000 + 3600 + 30, 'outlives the longest token it can sign');
    assert.deepEqual([r.iss, r.use, r.source, 'd' in r], ['https://i', 'sig', 'authz', false]);
  }
  const first = keys.kid;
  await keys.issue({ sub: 'a', ttlSeconds: 100 });
  now += 10_000;
  await keys.issue({ sub: 'a', ttlSeconds: 50 });
  await keys.rotate();
  const retired = await read(first);
  assert.equal(retired.notAfter, 1_800_000_000 + 100 + 30, 'last exp it signed + skew');
  // A key retired before it signed anything: trusted only for the skew.
  const second = keys.kid;
  await keys.rotate();
  assert.equal((await read(second)).notAfter, now / 1000 + 30);
  assert.deepEqual(keys.records().map((r) => r.kid).slice(2), [first, second]);
  keys.forget(first);
  assert.deepEqual(keys.records().map((r) => r.kid).slice(2), [second]);
  await keys.close();
});

test('a retired key leaves the store when its lease ends (event-driven)', async () => {
  const store = new MemoryStore();
  const keys = await SigningKeys.create(store, { issuer: 'i', maxTtlSeconds: 1, skewSeconds: 0 });
  const { mirror, watcher } = await WatchMirror.on(store, 'keys/');
  const first = keys.kid;
  await keys.issue({ sub: 'a', ttlSeconds: 1 });
  await keys.rotate();
  assert.ok(mirror.state.has(keyStoreKey(first)));
  await mirror.until((s) => !s.has(keyStoreKey(first)), 5000, 'the retired key to expire');
  assert.ok(mirror.state.has(keyStoreKey(keys.kid)), 'the active key stays');
  await watcher.close();
  await keys.close();
});
