// KeySet: which stored records are trusted, and how a token header picks (or fails to pick) a key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair, base64url } from 'jose';
import { MemoryStore } from '../../../../core/store/memory-store.js';
import { KeySet } from '../../../../core/auth/key-set.js';
import { keyStoreKey } from '../../../../core/auth/key-record.js';
import { publishTestKey } from '../../../support/auth-fixtures.js';

test('records with private members, symmetric keys, alg none or HMAC, no iss or another use are refused', async () => {
  const store = new MemoryStore();
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const pub = await exportJWK(publicKey);
  const priv = await exportJWK(privateKey);
  const base = { ...pub, alg: 'ES256', use: 'sig', iss: 'i', notAfter: 4e9, publishedAt: 0, source: 'authz' };
  const bad: Record<string, unknown>[] = [
    { ...base, ...priv, kid: 'private' },
    { kty: 'oct', k: base64url.encode(new Uint8Array(32)), kid: 'oct', alg: 'HS256', iss: 'i', notAfter: 4e9 },
    { ...base, kid: 'none', alg: 'none' },
    { ...base, kid: 'hs', alg: 'HS256' },
    { ...base, kid: 'noiss', iss: undefined },
    { ...base, kid: 'enc', use: 'enc' },
    { ...base, kid: 'nonotafter', notAfter: undefined },
  ];
  for (const r of bad) await store.put(keyStoreKey(String(r.kid)), JSON.stringify(r));
  await store.put(keyStoreKey('garbage'), 'not json');
  await store.put(keyStoreKey('good'), JSON.stringify({ ...base, kid: 'good' }));
  const set = await KeySet.watch(store);
  assert.deepEqual(set.records().map((r) => r.kid), ['good']);
  await set.close();
});

test('a key past its notAfter no longer resolves; a renewed record keeps the imported key', async () => {
  const store = new MemoryStore();
  let now = 1_000_000_000_000;
  const key = await publishTestKey(store, 'EdDSA', 'i', now / 1000 + 10);
  const set = await KeySet.watch(store, { now: () => now });
  const header = { alg: 'EdDSA', kid: key.kid };
  const entry = set.resolve(header, undefined);
  assert.ok(entry.key);
  await store.put(keyStoreKey(key.kid), JSON.stringify({ ...key.record, notAfter: now / 1000 + 20 }));
  const renewed = set.resolve(header, undefined);
  assert.equal(renewed.key, entry.key, 'no re-import for a renewal');
  now += 21_000;
  assert.throws(() => set.resolve(header, undefined), /notAfter/);
  await set.close();
});

test('the same kid under two issuers: the token iss picks; an unknown iss finds nothing', async () => {
  const store = new MemoryStore();
  const a = await publishTestKey(store, 'ES256', 'https://a');
  const b = await publishTestKey(store, 'ES256', 'https://b');
  await store.put(keyStoreKey(`ext.x.${a.kid}`), JSON.stringify({ ...b.record, kid: a.kid }));
  const set = await KeySet.watch(store);
  const payload = (iss: string) => base64url.encode(JSON.stringify({ iss }));
  assert.equal(set.resolve({ alg: 'ES256', kid: a.kid }, { payload: payload('https://a'), signature: '' }).record.iss, 'https://a');
  assert.equal(set.resolve({ alg: 'ES256', kid: a.kid }, { payload: payload('https://b'), signature: '' }).record.iss, 'https://b');
  assert.throws(() => set.resolve({ alg: 'ES256', kid: a.kid }, { payload: payload('https://c'), signature: '' }));
  await set.close();
});
