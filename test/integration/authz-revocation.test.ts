// Revocation and opaque tokens on real etcd and real Redis: opaque issue/introspect/revoke over gRPC, revocation by
// jti, subject and key id reaching several independent sidecar mirrors, leases that end the blocklist entries, and
// a mirror that loses etcd failing closed (503) until it is back — then refusing what was revoked meanwhile.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { EtcdStore } from '../../core/store/etcd-store.js';
import { startAuthz, type AuthzNode } from '../../authz-svc/main.js';
import { authzProto, type AuthzClient } from '../../core/auth/authz-proto.js';
import { IntrospectionClient } from '../../core/auth/introspection-client.js';
import { tokenHash } from '../../core/auth/revocation-record.js';
import { startEtcd, type EtcdProcess } from '../support/start-etcd.js';
import { startRedis, type RedisProcess } from '../support/start-redis.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';
import { authChain, claimsOf, startMirror, type Mirror } from '../support/auth-fixtures.js';

const ADMIN = 'admin-token-for-tests-0123456789';
let etcd: EtcdProcess;
let redis: RedisProcess;
let redisClient: Redis;
let node: AuthzNode;
let authzStore: EtcdStore;
let grpcClient: AuthzClient;
const prefix = `/authz-revocation-${process.pid}/`;
const closers: (() => Promise<void>)[] = [];

before(async () => {
  [etcd, redis] = await Promise.all([startEtcd(), startRedis()]);
  redisClient = new Redis(redis.url);
  redisClient.on('error', () => {}); // Redis is stopped on purpose in one test
  authzStore = new EtcdStore({ endpoints: etcd.endpoint, prefix });
  node = await startAuthz({ store: authzStore, redis: redis.url, httpPort: 0, grpcPort: 0, adminToken: ADMIN, issuer: 'https://meshgate.test', skewSeconds: 6 });
  grpcClient = new (authzProto().Authz)(`127.0.0.1:${node.grpcPort}`, grpc.credentials.createInsecure());
});

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  grpcClient?.close();
  await node?.close();
  await authzStore?.close();
  redisClient?.disconnect();
  await Promise.all([etcd?.stop(), redis?.stop()]);
});

function admin(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${ADMIN}`);
  return md;
}

function rpc<Req, Res>(method: (req: Req, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => method.call(grpcClient, req, admin(), (err, res) => (err ? reject(err) : resolve(res!))));
}

async function mirrors(n: number, options = {}): Promise<Mirror[]> {
  const list = await Promise.all(Array.from({ length: n }, () => startMirror(etcd.endpoint, prefix, options)));
  for (const m of list) closers.push(() => m.close());
  return list;
}

test('opaque tokens: only a hash with a TTL in Redis, introspected over gRPC by a sidecar, revoked everywhere', async () => {
  const issued = await rpc(grpcClient.IssueToken, { sub: 'svc-a', scope: 'echo:read', clientId: 'cli-1', ttlSeconds: 120, type: 'TOKEN_TYPE_OPAQUE' as const });
  const token = issued.token!;
  assert.match(token, /^mgo_[A-Za-z0-9_-]{43}$/, '256 random bits, base64url');
  const keys = await redisClient.keys('meshgate:opaque:*');
  assert.deepEqual(keys, [`meshgate:opaque:${tokenHash(token)}`]);
  const stored = (await redisClient.get(keys[0]))!;
  assert.ok(!stored.includes(token.slice(4)), 'the token itself is never stored');
  assert.deepEqual(JSON.parse(stored).sub, 'svc-a');
  const ttl = await redisClient.ttl(keys[0]);
  assert.ok(ttl > 100 && ttl <= 120, `TTL ${ttl}`);

  const introspect = new IntrospectionClient({ address: `127.0.0.1:${node.grpcPort}`, positiveTtlMs: 60_000 });
  closers.push(async () => introspect.close());
  const sidecars = await mirrors(2, { introspect });
  const checks = sidecars.map((m) => authChain(m.auth, { opaque: true, scopes: ['echo:read'] }));
  for (const check of checks) {
    const v = await check(token);
    assert.equal(v.status, 200);
    assert.equal(v.subject, 'svc-a');
  }
  assert.equal((await authChain(sidecars[0].auth, { scopes: ['echo:read'] })(token)).status, 401, 'a route without opaque: true refuses it');
  assert.equal((await checks[0](`mgo_${'A'.repeat(43)}`)).status, 401, 'an unknown opaque token is inactive');

  const revoked = await rpc(grpcClient.Revoke, { token });
  assert.equal(revoked.kind, 'opaque');
  assert.equal(revoked.id, tokenHash(token));
  assert.equal(revoked.expiresAt, issued.expiresAt, 'the entry lasts as long as the token could');
  assert.equal(await redisClient.exists(keys[0]), 0, 'the Redis record is gone');
  // Refused on every mirror although their caches (and the introspection cache) still held it as active.
  for (const check of checks) await waitFor(async () => (await check(token)).status === 401, 'the opaque revocation on a mirror', 5000, 10);
  const direct = await rpc(grpcClient.Introspect, { token });
  assert.equal(direct.active, false);
});

test('introspection unreachable: the route fails closed (503) by default, or lets the request on anonymously when open', async () => {
  const introspect = new IntrospectionClient({ address: '127.0.0.1:1', timeoutMs: 200 });
  closers.push(async () => introspect.close());
  const [m] = await mirrors(1, { introspect });
  const token = (await rpc(grpcClient.IssueToken, { sub: 'x', type: 'TOKEN_TYPE_OPAQUE' as const, ttlSeconds: 60 })).token!;
  const closed = await authChain(m.auth, { opaque: true })(token);
  assert.equal(closed.status, 503);
  assert.equal(closed.code, 'auth_unavailable');
  const open = await authChain(m.auth, { opaque: true, introspectionFailureMode: 'open' })(token);
  assert.equal(open.status, 200);
  assert.equal(open.subject, undefined, 'no identity reaches the app');
  assert.equal((await authChain(m.auth, { opaque: true, introspectionFailureMode: 'open', scopes: ['a'] })(token)).status, 401);
});

test('Redis down: introspection is UNAVAILABLE (sidecar 503), issuing opaque tokens fails, JWTs still work; back when Redis is', async () => {
  const introspect = new IntrospectionClient({ address: `127.0.0.1:${node.grpcPort}`, positiveTtlMs: 1, negativeTtlMs: 1 });
  closers.push(async () => introspect.close());
  const [m] = await mirrors(1, { introspect, settings: { introspectionCacheMs: 1 } });
  const check = authChain(m.auth, { opaque: true });
  const token = (await rpc(grpcClient.IssueToken, { sub: 'r', type: 'TOKEN_TYPE_OPAQUE' as const, ttlSeconds: 60 })).token!;
  await redis.stop();
  try {
    m.auth.deps.cache.clear();
    await waitFor(async () => (m.auth.deps.cache.clear(), (await check(token)).status === 503), 'introspection to fail closed', 10_000, 50);
    await assert.rejects(rpc(grpcClient.IssueToken, { sub: 'r', type: 'TOKEN_TYPE_OPAQUE' as const }), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);
    const jwt = await rpc(grpcClient.IssueToken, { sub: 'r' });
    assert.equal((await check(jwt.token!)).status, 200);
  } finally {
    await redis.start();
  }
  // This Redis keeps no data across restarts (no persistence configured), so a token issued after it is back is the probe.
  await waitFor(async () => {
    const fresh = await rpc(grpcClient.IssueToken, { sub: 'r', type: 'TOKEN_TYPE_OPAQUE' as const, ttlSeconds: 60 }).catch(() => undefined);
    return fresh !== undefined && (await check(fresh.token!)).status === 200;
  }, 'opaque tokens back with Redis', 15_000, 100);
});

test('revocation by jti, by subject (issued before T) and by kid reaches every mirror; other tokens keep passing', async () => {
  const sidecars = await mirrors(4);
  const issue = async (sub: string, ttlSeconds = 300) => (await rpc(grpcClient.IssueToken, { sub, ttlSeconds })).token!;
  const [a1, a2, b1, c1] = [await issue('alice'), await issue('alice'), await issue('bob'), await issue('carol')];
  for (const m of sidecars) for (const t of [a1, a2, b1, c1]) assert.equal((await m.check(t)).status, 200);

  const everywhere = (token: string, status: number, what: string) =>
    Promise.all(sidecars.map((m) => waitFor(async () => (await m.check(token)).status === status, what, 5000, 5)));

  // jti: one token; its entry lasts as long as that token (exp taken from the token itself).
  const byJti = await rpc(grpcClient.Revoke, { token: a1 });
  assert.equal(byJti.kind, 'jti');
  assert.equal(byJti.expiresAt, claimsOf(a1).exp);
  await everywhere(a1, 401, 'a1 refused');
  for (const m of sidecars) assert.equal((await m.check(a2)).status, 200, 'the same subject\'s other token still passes');

  // subject: everything bob holds now; a token issued after T passes.
  const before = Math.floor(Date.now() / 1000) + 1;
  const bySub = await rpc(grpcClient.Revoke, { sub: 'bob', before });
  assert.equal(bySub.before, before);
  await everywhere(b1, 401, 'b1 refused');
  await waitFor(() => Date.now() / 1000 >= before, 'T to pass', 5000);
  const b2 = await issue('bob');
  for (const m of sidecars) assert.equal((await m.check(b2)).status, 200);

  // kid: the key signing right now is compromised — authz rotates away from it; its tokens die everywhere.
  const kid = node.keys.kid;
  await rpc(grpcClient.Revoke, { kid, reason: 'compromised' });
  assert.notEqual(node.keys.kid, kid);
  for (const t of [a2, b2, c1]) await everywhere(t, 401, 'tokens of the revoked key refused');
  const fresh = await issue('carol');
  for (const m of sidecars) assert.equal((await m.check(fresh)).status, 200, 'tokens of the new key pass');
  assert.equal(await authzStore.get(`keys/${encodeURIComponent(kid)}`), undefined, 'the compromised key is unpublished');

  const listed = await rpc(grpcClient.ListRevocations, { kind: '' });
  const kinds = new Set(listed.revocations!.map((r) => r.kind));
  for (const kind of ['jti', 'sub', 'kid', 'opaque']) assert.ok(kinds.has(kind), `ListRevocations shows ${kind}`);
});

test('revocation entries are leased: they leave etcd once nothing they affect can be valid', async () => {
  const [m] = await mirrors(1);
  const token = (await rpc(grpcClient.IssueToken, { sub: 'short', ttlSeconds: 2 })).token!;
  const record = await rpc(grpcClient.Revoke, { token });
  const key = `revoked/jti/${encodeURIComponent(record.id!)}`;
  assert.ok(await authzStore.get(key));
  assert.equal((await m.check(token)).status, 401);
  // exp (≤ 2 s) + skew (6 s in this test, above the verifiers' 5 s clock tolerance): the lease ends, the mirror drops it.
  await waitFor(async () => (await authzStore.get(key)) === undefined, 'the revocation lease to end', 10_000, 100);
  await waitFor(() => !m.auth.deps.revocations.isRevoked({ jti: record.id!, sub: 'short', iat: 0, kid: undefined, opaqueHash: undefined }), 'the mirror to drop it');
  assert.equal((await m.check(token)).status, 401, 'the token itself is expired by then');
});

test('a mirror that loses etcd fails closed past the staleness bound, then catches up on what was revoked meanwhile', async () => {
  const proxy = await startTcpProxy('127.0.0.1', Number(new URL(etcd.endpoint).port));
  closers.push(() => proxy.close());
  const [cut] = await Promise.all([startMirror(`http://${proxy.address}`, prefix, { staleAfterMs: 1000 })]);
  closers.push(() => cut.close());
  const [healthy] = await mirrors(1, { staleAfterMs: 1000 });
  const keep = (await rpc(grpcClient.IssueToken, { sub: 'dave', ttlSeconds: 300 })).token!;
  const doomed = (await rpc(grpcClient.IssueToken, { sub: 'erin', ttlSeconds: 300 })).token!;
  for (const t of [keep, doomed]) assert.equal((await cut.check(t)).status, 200);

  proxy.cut();
  await waitFor(() => !cut.store.connected, 'the mirror to notice the lost connection', 15_000);
  await rpc(grpcClient.Revoke, { token: doomed });
  await waitFor(async () => (await healthy.check(doomed)).status === 401, 'the healthy mirror to refuse');
  await waitFor(async () => (await cut.check(keep)).status === 503, 'the cut mirror to fail closed', 15_000, 50);
  const stale = await cut.check(doomed);
  assert.equal(stale.status, 503, 'never the stale 200');
  assert.equal(cut.auth.status().stale, true);

  proxy.restore();
  await waitFor(async () => (await cut.check(keep)).status === 200, 'the mirror to recover', 20_000, 50);
  assert.equal((await cut.check(doomed)).status, 401, 'the revocation made while it was cut is enforced');
  assert.equal(cut.auth.status().stale, false);
});

test('etcd itself stopped: every mirror fails closed, and serves again once etcd is back', async () => {
  const sidecars = await mirrors(2, { staleAfterMs: 1000 });
  const token = (await rpc(grpcClient.IssueToken, { sub: 'frank', ttlSeconds: 300 })).token!;
  for (const m of sidecars) assert.equal((await m.check(token)).status, 200);
  await etcd.stop();
  try {
    for (const m of sidecars) await waitFor(async () => (await m.check(token)).status === 503, 'fail closed with etcd down', 20_000, 50);
  } finally {
    await etcd.start();
  }
  for (const m of sidecars) await waitFor(async () => (await m.check(token)).status === 200, 'recovery after etcd restart', 30_000, 50);
});
