// Keys on a real etcd: rotation under continuous issue-and-verify on several sidecar mirrors without one failed
// verification (old-key tokens pass until they expire), and external JWKS sync from a local identity provider.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { request } from 'undici';
import { EtcdStore } from '../../core/store/etcd-store.js';
import { startAuthz, type AuthzNode } from '../../authz-svc/main.js';
import { JwksSync } from '../../authz-svc/jwks-sync.js';
import { revocationStoreKey } from '../../core/auth/revocation-record.js';
import { startEtcd, type EtcdProcess } from '../support/start-etcd.js';
import { waitFor } from '../support/wait-for.js';
import { claimsOf, startMirror, type Mirror } from '../support/auth-fixtures.js';

const ADMIN = 'admin-token-for-tests-0123456789';
const ISSUER = 'https://meshgate.test';
let etcd: EtcdProcess;
let prefixCounter = 0;
const closers: (() => Promise<void>)[] = [];

function prefix(): string {
  return `/authz-keys-${process.pid}-${++prefixCounter}/`;
}

before(async () => {
  etcd = await startEtcd();
});

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await etcd.stop();
});

async function authz(p: string, options: { maxTtlSeconds?: number } = {}): Promise<{ node: AuthzNode; store: EtcdStore }> {
  const store = new EtcdStore({ endpoints: etcd.endpoint, prefix: p });
  const node = await startAuthz({ store, httpPort: 0, grpcPort: 0, adminToken: ADMIN, issuer: ISSUER, maxTtlSeconds: options.maxTtlSeconds });
  closers.push(async () => {
    await node.close();
    await store.close();
  });
  return { node, store };
}

async function mirrors(p: string, n: number): Promise<Mirror[]> {
  const list = await Promise.all(Array.from({ length: n }, () => startMirror(etcd.endpoint, p)));
  for (const m of list) closers.push(() => m.close());
  return list;
}

async function post(base: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await request(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.statusCode, json: await res.body.json() };
}

test('rotation: tokens issued before, during and after rotations verify on every mirror, uncached, with no failure', async () => {
  const p = prefix();
  const { node } = await authz(p);
  const sidecars = await mirrors(p, 3);
  const base = `http://127.0.0.1:${node.httpPort}`;
  const tokens: string[] = [];
  const kids = new Set<string>();
  let failures = 0;
  let verified = 0;
  // Issue and verify at once, over and over, while rotations happen: the newest token is checked on every
  // mirror with an empty cache, i.e. through jose and the key mirror.
  let stop = false;
  const loop = (async () => {
    for (let i = 0; !stop && i < 5000; i++) {
      const { json } = await post(base, '/v1/tokens', { sub: `user-${i}`, ttlSeconds: 300 });
      tokens.push(json.token);
      kids.add(json.kid);
      for (const m of sidecars) {
        m.auth.deps.cache.clear();
        const v = await m.check(json.token);
        verified++;
        if (v.status !== 200) failures++;
      }
    }
  })();
  for (let r = 0; r < 5; r++) {
    await waitFor(() => tokens.length >= (r + 1) * 5, 'tokens issued between rotations');
    const { status, json } = await post(base, '/v1/keys/rotate');
    assert.equal(status, 200);
    assert.notEqual(json.kid, json.previousKid);
  }
  await waitFor(() => tokens.length >= 30, 'tokens after the last rotation');
  stop = true;
  await loop;
  assert.equal(failures, 0, `${failures} of ${verified} verifications failed during rotations`);
  assert.ok(kids.size >= 6, `tokens were signed by ${kids.size} keys`);
  // Every token, of every key, still passes everywhere.
  for (const m of sidecars) {
    m.auth.deps.cache.clear();
    for (const t of tokens) assert.equal((await m.check(t)).status, 200);
  }
  // The retired keys stay in the JWKS with notAfter at or past their last token's exp.
  const jwks = (await (await request(`${base}/.well-known/jwks.json`)).body.json()) as { keys: JWK[] };
  for (const kid of kids) assert.ok(jwks.keys.some((k) => k.kid === kid), `kid ${kid} still published`);
  for (const record of node.keys.records()) {
    const signed = tokens.filter((t) => JSON.parse(Buffer.from(t.split('.')[0], 'base64url').toString()).kid === record.kid);
    for (const t of signed) assert.ok(record.notAfter >= claimsOf(t).exp);
  }
});

test('a retired key is published until its last token exp plus skew; that token passes until it expires', async () => {
  const p = prefix();
  const { node, store } = await authz(p, { maxTtlSeconds: 2 });
  const [m] = await mirrors(p, 1);
  const token = await node.keys.issue({ sub: 'a', ttlSeconds: 2 });
  const oldKid = node.keys.kid;
  await node.keys.rotate();
  assert.equal((await m.check(token)).status, 200, 'old-key token passes after the rotation');
  const record = JSON.parse((await store.get(`keys/${encodeURIComponent(oldKid)}`))!);
  assert.equal(record.notAfter, claimsOf(token).exp + 60, 'the retired key is trusted until its last exp plus skew');
  await waitFor(async () => (await m.check(token)).status === 401, 'the token to expire', 10_000, 100);
});

/** A tiny identity provider: serves its JWKS with Cache-Control and ETag, counts fetches. */
async function identityProvider(): Promise<{
  url: string;
  keys: { kid: string; privateKey: CryptoKey; jwk: JWK }[];
  fetches: number;
  conditional: number;
  maxAge: number;
  addKey(alg?: 'RS256' | 'ES256'): Promise<void>;
  dropKey(kid: string): void;
  sign(kid: string, claims: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}> {
  let version = 0;
  const idp = {
    url: '',
    keys: [] as { kid: string; privateKey: CryptoKey; jwk: JWK; alg: string }[],
    fetches: 0,
    conditional: 0,
    maxAge: 1,
    async addKey(alg: 'RS256' | 'ES256' = 'RS256') {
      const { publicKey, privateKey } = await generateKeyPair(alg);
      const kid = `idp-key-${idp.keys.length + 1}`;
      // Deliberately carries no `alg` for RSA: the sync must infer it.
      idp.keys.push({ kid, privateKey, alg, jwk: { ...(await exportJWK(publicKey)), kid, use: 'sig', ...(alg === 'ES256' && { alg }) } });
      version++;
    },
    dropKey(kid: string) {
      idp.keys = idp.keys.filter((k) => k.kid !== kid);
      version++;
    },
    sign(kid: string, claims: Record<string, unknown>) {
      const key = idp.keys.find((k) => k.kid === kid)!;
      return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid, typ: 'JWT' }).sign(key.privateKey);
    },
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    idp.fetches++;
    const etag = `"v${version}"`;
    if (req.headers['if-none-match'] === etag) {
      idp.conditional++;
      res.writeHead(304, { etag, 'cache-control': `max-age=${idp.maxAge}` });
      return res.end();
    }
    res.writeHead(200, { 'content-type': 'application/json', etag, 'cache-control': `public, max-age=${idp.maxAge}` });
    res.end(JSON.stringify({ keys: [...idp.keys.map((k) => k.jwk), { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' }, { kty: 'RSA', kid: 'enc', use: 'enc', n: 'AQAB', e: 'AQAB' }] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  idp.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  idp.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return idp as never;
}

test('external JWKS: keys published into etcd, tokens of the IdP verify on mirrors, IdP rotation followed, max-age and ETag honoured', async () => {
  const p = prefix();
  const idp = await identityProvider();
  closers.push(() => idp.close());
  await idp.addKey('RS256');
  await idp.addKey('ES256');
  const store = new EtcdStore({ endpoints: etcd.endpoint, prefix: p });
  closers.push(() => store.close());
  const issuer = 'https://idp.example';
  // minRefresh 200 ms so max-age=1 s drives the refresh (an interval of 1 h would otherwise).
  const sync = await JwksSync.start({ store, issuers: [{ issuer, jwksUrl: idp.url, refreshInterval: '1h' }], watchConfig: false, minRefreshMs: 200 });
  closers.push(() => sync.close());
  await sync.syncAll();
  const [m1, m2] = await mirrors(p, 2);
  const nowSec = Math.floor(Date.now() / 1000);
  const claims = { iss: issuer, sub: 'ext-user', aud: 'api', exp: nowSec + 300, iat: nowSec, scope: 'echo:read' };
  const t1 = await idp.sign('idp-key-1', claims);
  const t2 = await idp.sign('idp-key-2', claims);
  for (const m of [m1, m2]) {
    await waitFor(() => m.auth.deps.keys.size === 2, 'the two IdP signing keys on the mirror (oct and enc keys skipped)');
    assert.equal((await m.check(t1)).status, 200);
    assert.equal((await m.check(t2)).status, 200);
  }
  const stored = [...(await store.getPrefix('keys/')).values()].map((v) => JSON.parse(v));
  assert.deepEqual(stored.map((r) => r.alg).sort(), ['ES256', 'RS256']);
  assert.ok(stored.every((r) => r.iss === issuer && r.source === 'jwks' && !('d' in r)));
  // A token of another issuer signed by the IdP key is refused: keys are bound to their issuer.
  assert.equal((await m1.check(await idp.sign('idp-key-1', { ...claims, iss: ISSUER }))).status, 401);

  // The IdP rotates: a new key appears, an old one is withdrawn. max-age=1 s makes the sync notice soon.
  const fetchesBefore = idp.fetches;
  await idp.addKey('RS256');
  idp.dropKey('idp-key-1');
  const t3 = await idp.sign('idp-key-3', claims);
  await waitFor(async () => (await m2.check(t3)).status === 200, 'the IdP new key to reach the mirror', 10_000, 50);
  m2.auth.deps.cache.clear();
  await waitFor(async () => (m2.auth.deps.cache.clear(), (await m2.check(t1)).status === 401), 'the withdrawn key to be unpublished', 10_000, 50);
  assert.ok(idp.fetches > fetchesBefore);
  // Unchanged document: conditional requests answered 304 keep the keys.
  const conditionalBefore = idp.conditional;
  await waitFor(() => idp.conditional > conditionalBefore, 'a 304 revalidation', 10_000, 50);
  assert.equal((await m2.check(t2)).status, 200);
  assert.equal(sync.status()[0].keys, 2);
});

test('a revoked external key is not published again while its issuer lists it, and its revocation is kept as long', async () => {
  // Before: the next sync published the key again, and the revocation lapsed at the key's notAfter as of revoking
  // (~24 h); after that, tokens signed with the compromised key verified again.
  const p = prefix();
  const idp = await identityProvider();
  closers.push(() => idp.close());
  await idp.addKey('ES256');
  const store = new EtcdStore({ endpoints: etcd.endpoint, prefix: p });
  closers.push(() => store.close());
  const sync = await JwksSync.start({ store, issuers: [{ issuer: 'https://idp3.example', jwksUrl: idp.url }], watchConfig: false, minRefreshMs: 200, keyLeaseSeconds: 10 });
  closers.push(() => sync.close());
  await sync.syncAll();
  const [published] = [...(await store.getPrefix('keys/')).keys()];
  assert.ok(published);
  // What `meshgate revoke --kid` does: the revocation entry, and the key unpublished.
  const nowSec = Math.floor(Date.now() / 1000);
  const revocation = revocationStoreKey('kid', 'idp-key-1');
  await store.put(revocation, JSON.stringify({ kind: 'kid', id: 'idp-key-1', revokedAt: nowSec, expiresAt: nowSec + 2 }), { ttlSeconds: 62 });
  await store.delete(published);
  await sync.syncAll();
  assert.equal((await store.getPrefix('keys/')).size, 0, 'not published again');
  const kept = JSON.parse((await store.get(revocation))!);
  assert.ok(kept.expiresAt >= nowSec + 9, `revocation extended while the issuer lists the key (expiresAt ${kept.expiresAt - nowSec} s ahead)`);
  assert.equal(sync.status()[0].keys, 0);
});

test('external JWKS fetch failures keep the keys already published', async () => {
  const p = prefix();
  const idp = await identityProvider();
  await idp.addKey('ES256');
  const store = new EtcdStore({ endpoints: etcd.endpoint, prefix: p });
  closers.push(() => store.close());
  const sync = await JwksSync.start({ store, issuers: [{ issuer: 'https://idp2.example', jwksUrl: idp.url }], watchConfig: false, minRefreshMs: 100 });
  closers.push(() => sync.close());
  await sync.syncAll();
  assert.equal((await store.getPrefix('keys/')).size, 1);
  await idp.close();
  await sync.syncAll();
  assert.match(sync.status()[0].lastError ?? '', /./);
  assert.equal((await store.getPrefix('keys/')).size, 1, 'a failed fetch removes nothing');
});
