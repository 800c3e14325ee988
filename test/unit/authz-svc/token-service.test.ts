// TokenService on a MemoryStore: revocation records and their leases, merging, key revocation, opaque tokens, validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../../core/store/memory-store.js';
import { RevocationList } from '../../../core/auth/revocation-list.js';
import { keyStoreKey } from '../../../core/auth/key-record.js';
import { revocationStoreKey, tokenHash } from '../../../core/auth/revocation-record.js';
import { SigningKeys } from '../../../authz-svc/signing-keys.js';
import { MemoryOpaqueTokenStore } from '../../../authz-svc/opaque-tokens.js';
import { InvalidField, TokenService } from '../../../authz-svc/token-service.js';
import { claimsOf } from '../../support/auth-fixtures.js';
import { waitFor } from '../../support/wait-for.js';

async function service(now = () => 1_800_000_000_000) {
  const store = new MemoryStore();
  const puts: { key: string; ttl?: number }[] = [];
  const put = store.put.bind(store);
  store.put = async (key, value, options) => {
    puts.push({ key, ttl: options?.ttlSeconds });
    return put(key, value, options);
  };
  const keys = await SigningKeys.create(store, { issuer: 'https://i', maxTtlSeconds: 3600, now });
  const revocations = await RevocationList.watch(store, { now });
  const opaque = new MemoryOpaqueTokenStore(now);
  const svc = new TokenService({ store, keys, opaque, revocations, skewSeconds: 60, now });
  return { store, keys, revocations, opaque, svc, puts, close: async () => (await keys.close(), await revocations.close(), await opaque.close()) };
}

test('each revocation is leased for the longest lifetime it can affect, plus skew', async () => {
  const s = await service();
  const now = 1_800_000_000;
  const ttlOf = (key: string) => s.puts.filter((p) => p.key === key).at(-1)?.ttl;
  const jwt = (await s.svc.issue({ sub: 'a', ttlSeconds: 300 })).token;
  const byToken = await s.svc.revoke({ token: jwt });
  assert.deepEqual([byToken.kind, byToken.id, byToken.expiresAt], ['jti', claimsOf(jwt).jti, now + 300]);
  assert.equal(ttlOf(revocationStoreKey('jti', byToken.id)), 300 + 60);
  const byJti = await s.svc.revoke({ jti: 'unknown' });
  assert.equal(byJti.expiresAt, now + 3600, 'no exp known: the longest token lifetime');
  const bySub = await s.svc.revoke({ sub: 'bob', before: now - 100 });
  assert.equal(bySub.expiresAt, now - 100 + 3600, 'a token issued just before T lives at most maxTtl past T');
  assert.equal(ttlOf(revocationStoreKey('sub', 'bob')), 3600 - 100 + 60);
  const opaque = (await s.svc.issue({ sub: 'c', type: 'opaque', ttlSeconds: 120 })).token;
  const byOpaque = await s.svc.revoke({ token: opaque });
  assert.deepEqual([byOpaque.kind, byOpaque.id, byOpaque.expiresAt], ['opaque', tokenHash(opaque), now + 120]);
  assert.equal(await s.opaque.load(tokenHash(opaque)), undefined, 'the opaque record is deleted');
  await s.close();
});

test('revoking a subject without T refuses a token issued earlier in the same second', async () => {
  // iat has whole seconds: with T = now, a token issued 300 ms before the revocation (iat = now) was not < T and
  // stayed valid until its exp.
  let nowMs = 1_800_000_000_200;
  const s = await service(() => nowMs);
  const { token } = await s.svc.issue({ sub: 'mallory-victim', ttlSeconds: 600 });
  nowMs += 300;
  const record = await s.svc.revoke({ sub: 'mallory-victim' });
  assert.equal(record.before, 1_800_000_001);
  await waitFor(() => s.revocations.isRevoked({ sub: 'mallory-victim', iat: claimsOf(token).iat as number }), 'the token issued before the revocation refused');
  assert.equal(s.revocations.isRevoked({ sub: 'mallory-victim', iat: 1_800_000_001 }), false, 'a token of the next second is not');
  await s.close();
});

test('a second subject revocation keeps the later T; listing shows every kind', async () => {
  const s = await service();
  await s.svc.revoke({ sub: 'bob', before: 1_800_000_000 - 10 });
  await s.svc.revoke({ sub: 'bob', before: 1_800_000_000 - 500 });
  const [rec] = await s.svc.listRevocations('sub');
  assert.equal(rec.before, 1_800_000_000 - 10);
  await s.svc.revoke({ jti: 'x' });
  assert.deepEqual((await s.svc.listRevocations()).map((r) => r.kind).sort(), ['jti', 'sub']);
  await s.close();
});

test('revoking the active or the next key rotates away from it and unpublishes it', async () => {
  const s = await service();
  const active = s.keys.kid;
  const next = s.keys.nextKid;
  const r1 = await s.svc.revoke({ kid: active, reason: 'leaked' });
  assert.equal(r1.reason, 'leaked');
  assert.notEqual(s.keys.kid, active);
  assert.equal(await s.store.get(keyStoreKey(active)), undefined);
  assert.equal(s.keys.kid, next, 'the pre-published key takes over');
  const upcoming = s.keys.nextKid;
  await s.svc.revoke({ kid: upcoming });
  assert.notEqual(s.keys.nextKid, upcoming);
  assert.equal(await s.store.get(keyStoreKey(upcoming)), undefined);
  assert.ok(await s.store.get(keyStoreKey(s.keys.nextKid)));
  assert.ok(!s.keys.jwks().keys.some((k) => k.kid === active || k.kid === upcoming));
  await s.close();
});

test('introspection: active with metadata, then inactive when expired, revoked or unknown', async () => {
  let now = 1_800_000_000_000;
  const s = await service(() => now);
  const a = await s.svc.issue({ sub: 'svc', type: 'opaque', scope: 'x', clientId: 'cli', aud: 'api', ttlSeconds: 60, claims: { tenant: 't' } });
  assert.deepEqual(await s.svc.introspect(a.token), { active: true, sub: 'svc', scope: 'x', clientId: 'cli', iss: 'https://i', aud: ['api'], exp: 1_800_000_060, iat: 1_800_000_000, claims: { tenant: 't' } });
  // Change the last character to a different one (a random token may already end in 'A').
  const tampered = `${a.token.slice(0, -1)}${a.token.endsWith('A') ? 'B' : 'A'}`;
  assert.deepEqual(await s.svc.introspect(tampered), { active: false });
  assert.deepEqual(await s.svc.introspect('eyJ.x.y'), { active: false });
  const b = await s.svc.issue({ sub: 'svc', type: 'opaque' });
  await s.store.put(revocationStoreKey('sub', 'svc'), JSON.stringify({ kind: 'sub', id: 'svc', before: 1_800_000_001, revokedAt: 0, expiresAt: 0 }));
  assert.equal((await s.svc.introspect(b.token)).active, false, 'subject revocations apply to opaque tokens too');
  await s.store.delete(revocationStoreKey('sub', 'svc'));
  now += 61_000;
  assert.equal((await s.svc.introspect(a.token)).active, false, 'expired');
  assert.equal((await s.svc.introspect(b.token)).active, true);
  await s.close();
});

test('invalid requests name the field', async () => {
  const s = await service();
  const cases: [Promise<unknown>, string][] = [
    [s.svc.issue({ sub: 'a', ttlSeconds: 3601 }), 'ttlSeconds'],
    [s.svc.issue({ sub: 'a', claims: { big: 'x'.repeat(5000) } }), 'claims'],
    [s.svc.revoke({}), 'target'],
    [s.svc.revoke({ jti: 'a', kid: 'b' }), 'target'],
    [s.svc.revoke({ jti: 'a', before: 1 }), 'before'],
    [s.svc.revoke({ sub: 'a', before: 1_800_000_000 + 7200 }), 'before'],
    [s.svc.revoke({ token: 'a.b.c' }), 'token'],
    [s.svc.revoke({ jti: 'a', expiresAt: 5 }), 'expiresAt'],
    [s.svc.revoke({ jti: 'a', expiresAt: 1e15 }), 'expiresAt'],
    // Both were a 500: the first replaced the payload's prototype (jose: "JWT Claims Set MUST be an object"), the
    // second overflowed the stack in JSON.stringify.
    [s.svc.issue({ sub: 'a', claims: JSON.parse('{"__proto__":{"a":1}}') }), 'claims.__proto__'],
    [s.svc.issue({ sub: 'a', claims: JSON.parse(`{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`) }), 'claims'],
    [s.svc.listRevocations('all'), 'kind'],
  ];
  for (const [promise, field] of cases) await assert.rejects(promise, (err: unknown) => err instanceof InvalidField && err.field === field, field);
  await s.close();
});
