// jwt-auth and scope-authz stages against a MemoryStore: valid, cached, refused tokens of every kind, revocation, staleness.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair, base64url } from 'jose';
import { MemoryStore } from '../../../../core/store/memory-store.js';
import type { Store } from '../../../../core/store/store.js';
import { compileConfig } from '../../../../core/config/compile.js';
import type { AuthPolicy, MeshConfig } from '../../../../core/config/schema.js';
import { Exchange } from '../../../../core/pipeline/exchange.js';
import type { Stage, Verdict } from '../../../../core/pipeline/stage.js';
import { MeshError } from '../../../../core/errors.js';
import { startSidecarAuth, type SidecarAuth } from '../../../../core/auth/sidecar-auth.js';
import { keyStoreKey, type KeyRecord } from '../../../../core/auth/key-record.js';
import { revocationStoreKey } from '../../../../core/auth/revocation-record.js';
import { SigningKeys } from '../../../../authz-svc/signing-keys.js';
import { jwtAuth } from '../../../../sidecar/stages/jwt-auth.js';
import { publishTestKey as ownKey, rawSign } from '../../../support/auth-fixtures.js';
import { scopeAuthz } from '../../../../sidecar/stages/scope-authz.js';

const ISSUER = 'https://meshgate.local';

/** A settable epoch-ms clock shared by the issuer and the verifier. */
function clock(start = Date.UTC(2030, 0, 1)) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms), set: (ms: number) => void (t = ms) };
}

function snapshotWith(auth: AuthPolicy, issuers?: MeshConfig['issuers']) {
  const config: MeshConfig = {
    apiVersion: 'meshgate/v1',
    ...(issuers && { issuers }),
    services: [{ name: 'echo', endpoints: ['127.0.0.1:1'] }],
    routes: [{ name: 'r', matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'echo' }], auth }],
  };
  const snapshot = compileConfig(config, { version: 1, digest: 'd' });
  return { snapshot, route: snapshot.routes[0] };
}

/** `socket`: the connection the request arrives on (a new one per request unless given). */
function exchange(authorization?: string | string[], socket: object = { remoteAddress: '127.0.0.1' }): Exchange {
  const req = { headers: authorization === undefined ? {} : { authorization }, method: 'GET', socket };
  return new Exchange(req as unknown as IncomingMessage, {} as ServerResponse, 'sidecar');
}

async function run(stage: Stage, x: Exchange): Promise<Verdict> {
  return stage.request!(x);
}

interface Harness {
  store: MemoryStore;
  keys: SigningKeys;
  auth: SidecarAuth;
  time: ReturnType<typeof clock>;
  stages(policy: AuthPolicy, issuers?: MeshConfig['issuers']): { authn: Stage; authz: Stage | undefined };
  close(): Promise<void>;
}

async function harness(store: Store & { close(): Promise<void> } = new MemoryStore(), staleAfterMs = 1000): Promise<Harness> {
  const time = clock();
  const keys = await SigningKeys.create(store, { issuer: ISSUER, now: time.now });
  const auth = await startSidecarAuth(store, { now: time.now, staleAfterMs });
  return {
    store: store as MemoryStore,
    keys,
    auth,
    time,
    stages(policy, issuers) {
      const { snapshot, route } = snapshotWith(policy, issuers);
      const authn = jwtAuth.build({ route, snapshot, deps: auth.deps });
      const authz = scopeAuthz.build({ route, snapshot, deps: auth.deps });
      assert.ok(authn);
      return { authn, authz };
    },
    async close() {
      await keys.close();
      await auth.close();
      await store.close();
    },
  };
}

function assertRefused(verdict: Verdict, status = 401): MeshError {
  assert.ok(verdict instanceof MeshError, `expected a MeshError, got ${JSON.stringify(verdict)}`);
  assert.equal(verdict.status, status);
  if (status === 401) assert.match(verdict.headers?.['www-authenticate'] ?? '', /^Bearer error="invalid_token"/);
  return verdict;
}

test('a valid token sets the identity; the second request is served synchronously from the cache', async () => {
  const h = await harness();
  try {
    const { authn, authz } = h.stages({ scopes: ['echo:read'] });
    const token = await h.keys.issue({ sub: 'alice', scope: 'echo:read other', clientId: 'cli' });
    const x = exchange(`Bearer ${token}`);
    assert.equal(await run(authn, x), undefined);
    assert.equal(x.identity?.subject, 'alice');
    assert.equal(x.identity?.issuer, ISSUER);
    assert.equal(x.identity?.clientId, 'cli');
    assert.deepEqual([...x.identity!.scopes].sort(), ['echo:read', 'other']);
    const claims = JSON.parse(Buffer.from(x.identity!.claimsHeader, 'base64url').toString());
    assert.equal(claims.sub, 'alice');
    assert.equal(authz!.request!(x), undefined);

    const again = exchange(`Bearer ${token}`);
    const verdict = authn.request!(again);
    assert.ok(!(verdict instanceof Promise), 'cached path must not return a promise');
    assert.equal(verdict, undefined);
    assert.equal(again.identity, x.identity, 'the cached identity object is reused');
  } finally {
    await h.close();
  }
});

test('scheme is case-insensitive but the header must be a single well-formed Bearer credential', async () => {
  const h = await harness();
  try {
    const { authn } = h.stages({});
    const token = await h.keys.issue({ sub: 'bob' });
    assert.equal(await run(authn, exchange(`bearer ${token}`)), undefined);
    for (const header of [token, `Basic ${token}`, `Bearer`, `Bearer  `, `Bearer ${token} extra`, `Bearer ${token}\u0000`, [`Bearer ${token}`, `Bearer ${token}`]])
      assertRefused(await run(authn, exchange(header as string)));
    const missing = assertRefused(await run(authn, exchange()));
    assert.equal(missing.code, 'invalid_token');
  } finally {
    await h.close();
  }
});

test('expired, not-yet-valid and issued-in-the-future tokens are refused; skew inside the leeway is accepted', async () => {
  const h = await harness();
  try {
    const { authn } = h.stages({});
    const token = await h.keys.issue({ sub: 'a', ttlSeconds: 60 });
    h.time.advance(64_000); // exp + 4 s: inside the default 5 s leeway
    assert.equal(await run(authn, exchange(`Bearer ${token}`)), undefined);
    h.time.advance(2_000);
    assert.match(assertRefused(await run(authn, exchange(`Bearer ${token}`))).message, /expired/);

    // Issued by a clock one hour ahead: nbf (and iat) in the future.
    h.time.advance(3_600_000);
    const future = await h.keys.issue({ sub: 'a' });
    h.time.advance(-3_600_000);
    assert.match(assertRefused(await run(authn, exchange(`Bearer ${future}`))).message, /not yet valid/);
    // Not negatively cached: once the clock reaches nbf it passes.
    h.time.advance(3_600_000);
    assert.equal(await run(authn, exchange(`Bearer ${future}`)), undefined);
  } finally {
    await h.close();
  }
});

test('a cached token stops passing at its exp even though it was verified before', async () => {
  const h = await harness();
  try {
    const { authn } = h.stages({});
    const token = await h.keys.issue({ sub: 'a', ttlSeconds: 30 });
    assert.equal(await run(authn, exchange(`Bearer ${token}`)), undefined);
    h.time.advance(40_000);
    assertRefused(await run(authn, exchange(`Bearer ${token}`)));
  } finally {
    await h.close();
  }
});

test('wrong issuer and wrong audience are refused by the route policy, accepted by a route that allows them', async () => {
  const h = await harness();
  try {
    const token = await h.keys.issue({ sub: 'a', aud: 'orders' });
    assert.match(assertRefused(await run(h.stages({ issuers: ['https://other.example'] }).authn, exchange(`Bearer ${token}`))).message, /issuer/);
    assert.match(assertRefused(await run(h.stages({ audiences: ['billing'] }).authn, exchange(`Bearer ${token}`))).message, /audience/);
    assert.equal(await run(h.stages({ issuers: [ISSUER], audiences: ['billing', 'orders'] }).authn, exchange(`Bearer ${token}`)), undefined);
    const noAud = await h.keys.issue({ sub: 'a' });
    assertRefused(await run(h.stages({ audiences: ['orders'] }).authn, exchange(`Bearer ${noAud}`)));
  } finally {
    await h.close();
  }
});

test('bad signature, tampered payload, alg none, HS256 with the public key, kid swap, embedded jwk and bad typ are refused', async () => {
  const h = await harness();
  try {
    const { authn } = h.stages({});
    const token = await h.keys.issue({ sub: 'alice', scope: 'read' });
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const enc = (v: unknown) => base64url.encode(JSON.stringify(v));
    const hdr = JSON.parse(Buffer.from(header, 'base64url').toString());

    const flipped = signature.slice(0, 10) + (signature[10] === 'A' ? 'B' : 'A') + signature.slice(11);
    assert.match(assertRefused(await run(authn, exchange(`Bearer ${header}.${payload}.${flipped}`))).message, /signature/);
    const tampered = enc({ ...claims, sub: 'root', scope: 'admin' });
    assertRefused(await run(authn, exchange(`Bearer ${header}.${tampered}.${signature}`)));
    assertRefused(await run(authn, exchange(`Bearer ${enc({ alg: 'none', kid: hdr.kid })}.${payload}.`)));
    assertRefused(await run(authn, exchange(`Bearer ${enc({ alg: 'none', kid: hdr.kid })}.${payload}.${signature}`)));

    // HS256 keyed with the published public JWK text: the classic confusion attack.
    const record = JSON.parse((await h.store.get(keyStoreKey(h.keys.kid)))!);
    const secret = new TextEncoder().encode(JSON.stringify(record));
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: hdr.kid }).sign(secret);
    assertRefused(await run(authn, exchange(`Bearer ${hs}`)));

    // Signed by a key the store does not have, under the published kid (kid swap) and under its own kid.
    const rogue = await generateKeyPair('ES256');
    const swapped = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: hdr.kid }).sign(rogue.privateKey);
    assert.match(assertRefused(await run(authn, exchange(`Bearer ${swapped}`))).message, /signature/);
    const unknown = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'nope' }).sign(rogue.privateKey);
    assert.match(assertRefused(await run(authn, exchange(`Bearer ${unknown}`))).message, /signing key/);
    const noKid = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).sign(rogue.privateKey);
    assertRefused(await run(authn, exchange(`Bearer ${noKid}`)));
    const embedded = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: hdr.kid, jwk: await exportJWK(rogue.publicKey) })
      .sign(rogue.privateKey);
    assert.match(assertRefused(await run(authn, exchange(`Bearer ${embedded}`))).message, /header/);

    // A real key of ours, but a header the mesh does not accept.
    const mine = await ownKey(h.store, 'ES256', ISSUER, Math.floor(h.time.now() / 1000) + 86_400);
    const sign = (protectedHeader: Record<string, unknown>, body = claims) =>
      new SignJWT(body).setProtectedHeader({ alg: 'ES256', kid: mine.kid, ...protectedHeader }).sign(mine.privateKey);
    assert.equal(await run(authn, exchange(`Bearer ${await sign({})}`)), undefined);
    assertRefused(await run(authn, exchange(`Bearer ${await sign({ typ: 'dpop+jwt' })}`)));
    assert.equal(await run(authn, exchange(`Bearer ${rawSign({ alg: 'ES256', kid: mine.kid }, claims, mine.privateKey)}`)), undefined, 'rawSign is sound');
    assertRefused(await run(authn, exchange(`Bearer ${rawSign({ alg: 'ES256', kid: mine.kid, crit: ['urn:x'], 'urn:x': 1 }, claims, mine.privateKey)}`)));
    assertRefused(await run(authn, exchange(`Bearer ${await sign({ jku: 'https://evil.example/jwks' })}`)));
    assertRefused(await run(authn, exchange(`Bearer ${await sign({ x5u: 'https://evil.example/cert' })}`)));
  } finally {
    await h.close();
  }
});

test('a key only verifies tokens of its own issuer, and only with its own algorithm', async () => {
  const h = await harness();
  try {
    const { authn } = h.stages({});
    const mine = await ownKey(h.store, 'ES256', ISSUER, Math.floor(h.time.now() / 1000) + 86_400);
    const nowSec = Math.floor(h.time.now() / 1000);
    const body = { sub: 'a', iss: 'https://evil.example', exp: nowSec + 60, iat: nowSec };
    const otherIssuer = await new SignJWT(body).setProtectedHeader({ alg: 'ES256', kid: mine.kid }).sign(mine.privateKey);
    assert.match(assertRefused(await run(authn, exchange(`Bearer ${otherIssuer}`))).message, /issuer/);

    const rsa = await ownKey(h.store, 'RS256', ISSUER, nowSec + 86_400);
    const rs = rawSign({ alg: 'RS256', kid: rsa.kid }, { ...body, iss: ISSUER }, rsa.privateKey);
    assert.equal(await run(authn, exchange(`Bearer ${rs}`)), undefined);
    const ps = rawSign({ alg: 'PS256', kid: rsa.kid }, { ...body, iss: ISSUER }, rsa.privateKey);
    assert.match(assertRefused(await run(authn, exchange(`Bearer ${ps}`))).message, /algorithm/);

    // issuers[].algorithms restricts what a route accepts for that issuer.
    const es = await new SignJWT({ ...body, iss: ISSUER }).setProtectedHeader({ alg: 'ES256', kid: mine.kid }).sign(mine.privateKey);
    assert.equal(await run(authn, exchange(`Bearer ${es}`)), undefined);
    const onlyRsa = h.stages({}, [{ issuer: ISSUER, algorithms: ['RS256'] }]).authn;
    assert.match(assertRefused(onlyRsa.request!(exchange(`Bearer ${es}`)) as Verdict).message, /algorithm/);
  } finally {
    await h.close();
  }
});

test('a token without exp is refused unless the policy allows it; a token without sub is refused', async () => {
  const h = await harness();
  try {
    const mine = await ownKey(h.store, 'EdDSA', ISSUER, Math.floor(h.time.now() / 1000) + 86_400);
    const nowSec = Math.floor(h.time.now() / 1000);
    const noExp = await new SignJWT({ sub: 'a', iss: ISSUER, iat: nowSec }).setProtectedHeader({ alg: 'EdDSA', kid: mine.kid }).sign(mine.privateKey);
    assert.match(assertRefused(await run(h.stages({}).authn, exchange(`Bearer ${noExp}`))).message, /no exp/);
    assert.equal(await run(h.stages({ allowMissingExp: true }).authn, exchange(`Bearer ${noExp}`)), undefined);
    // Cached now, yet a strict route still refuses it.
    assertRefused(h.stages({}).authn.request!(exchange(`Bearer ${noExp}`)) as Verdict);
    const noSub = await new SignJWT({ iss: ISSUER, exp: nowSec + 60 }).setProtectedHeader({ alg: 'EdDSA', kid: mine.kid }).sign(mine.privateKey);
    assertRefused(await run(h.stages({}).authn, exchange(`Bearer ${noSub}`)));
  } finally {
    await h.close();
  }
});

test('malformed tokens of every shape are a 401, never a throw', async () => {
  const h = await harness();
  try {
    const { authn } = h.stages({});
    const token = await h.keys.issue({ sub: 'a' });
    const [header, payload, signature] = token.split('.');
    const samples = [
      'abc', 'a.b', 'a.b.c', 'a.b.c.d', '...', `${header}.${payload}`, `${header}.${payload}.`, token.slice(0, -5),
      `${header}.${payload}.${signature}=`, `e30.e30.e30`, `${base64url.encode('[1]')}.${payload}.${signature}`,
      `${header}.${base64url.encode('not json')}.${signature}`, `${header}.${base64url.encode('"string"')}.${signature}`,
      `${header}.${base64url.encode('{"exp":"soon","sub":"a"}')}.${signature}`, 'x'.repeat(20_000), `${'a'.repeat(9000)}.b.c`,
    ];
    for (const sample of samples) {
      let verdict: Verdict;
      await assert.doesNotReject(async () => void (verdict = await run(authn, exchange(`Bearer ${sample}`))), sample.slice(0, 40));
      assertRefused(verdict!);
    }
  } finally {
    await h.close();
  }
});

test('missing scope, any-of scopes and required claims: 403 insufficient_scope from scope-authz', async () => {
  const h = await harness();
  try {
    const { authn, authz } = h.stages({ scopes: ['echo:read'], anyScopes: ['team:a', 'team:b'], claims: { tenant: ['acme', 'globex'] } });
    const check = async (scope: string, claims: Record<string, unknown>) => {
      const x = exchange(`Bearer ${await h.keys.issue({ sub: 'a', scope, claims })}`);
      assert.equal(await run(authn, x), undefined);
      return authz!.request!(x) as Verdict;
    };
    assert.equal(await check('echo:read team:b', { tenant: 'acme' }), undefined);
    const missing = assertRefused(await check('team:a', { tenant: 'acme' }), 403);
    assert.equal(missing.code, 'insufficient_scope');
    assert.match(missing.headers!['www-authenticate'], /insufficient_scope.*echo:read/);
    assertRefused(await check('echo:read', { tenant: 'acme' }), 403);
    assertRefused(await check('echo:read team:a', { tenant: 'initech' }), 403);
    assertRefused(await check('echo:read team:a', {}), 403);
    // `scp` as an array counts as well.
    assert.equal(await check('', { scp: ['echo:read', 'team:a'], tenant: ['x', 'globex'] }), undefined);
  } finally {
    await h.close();
  }
});

test('routes without auth get no stage; optional auth lets an anonymous request through but not a bad token', async () => {
  const h = await harness();
  try {
    const config: MeshConfig = {
      apiVersion: 'meshgate/v1',
      services: [{ name: 'echo', endpoints: ['127.0.0.1:1'] }],
      routes: [{ name: 'open', matches: [{}], backendRefs: [{ name: 'echo' }] }],
    };
    const snapshot = compileConfig(config, { version: 1, digest: 'd' });
    assert.equal(jwtAuth.build({ route: snapshot.routes[0], snapshot, deps: h.auth.deps }), undefined);
    assert.equal(scopeAuthz.build({ route: snapshot.routes[0], snapshot, deps: h.auth.deps }), undefined);
    const { authn } = h.stages({ required: false });
    const x = exchange();
    assert.equal(await run(authn, x), undefined);
    assert.equal(x.identity, undefined);
    assertRefused(await run(authn, exchange('Bearer a.b.c')));
  } finally {
    await h.close();
  }
});

test('revocation by jti, subject (issued before T) and kid refuses cached tokens at once', async () => {
  const h = await harness();
  try {
    const { authn } = h.stages({});
    const t1 = await h.keys.issue({ sub: 'alice' });
    const t2 = await h.keys.issue({ sub: 'bob' });
    for (const t of [t1, t2]) assert.equal(await run(authn, exchange(`Bearer ${t}`)), undefined);
    const jti = JSON.parse(Buffer.from(t1.split('.')[1], 'base64url').toString()).jti;
    await h.store.put(revocationStoreKey('jti', jti), JSON.stringify({ kind: 'jti', id: jti, revokedAt: 0, expiresAt: 0 }));
    assert.match(assertRefused(await run(authn, exchange(`Bearer ${t1}`))).message, /revoked/);
    assert.equal(authn.request!(exchange(`Bearer ${t2}`)), undefined);

    const before = Math.floor(h.time.now() / 1000) + 1;
    await h.store.put(revocationStoreKey('sub', 'bob'), JSON.stringify({ kind: 'sub', id: 'bob', before, revokedAt: 0, expiresAt: 0 }));
    assertRefused(await run(authn, exchange(`Bearer ${t2}`)));
    h.time.advance(2000);
    const fresh = await h.keys.issue({ sub: 'bob' });
    assert.equal(await run(authn, exchange(`Bearer ${fresh}`)), undefined, 'a token issued after T passes');

    await h.store.put(revocationStoreKey('kid', h.keys.kid), JSON.stringify({ kind: 'kid', id: h.keys.kid, revokedAt: 0, expiresAt: 0 }));
    assertRefused(await run(authn, exchange(`Bearer ${fresh}`)));
    await h.store.delete(revocationStoreKey('kid', h.keys.kid));
    assert.equal(await run(authn, exchange(`Bearer ${fresh}`)), undefined, 'the lease ending lifts the revocation');
  } finally {
    await h.close();
  }
});

test('one keep-alive connection: each token is judged on its own, and a repeated token is still revoked', async () => {
  const h = await harness();
  try {
    const { authn } = h.stages({});
    const connection = { remoteAddress: '127.0.0.1' };
    const alice = await h.keys.issue({ sub: 'alice' });
    const bob = await h.keys.issue({ sub: 'bob' });
    const tampered = alice.slice(0, -2) + (alice.endsWith('AA') ? 'BB' : 'AA');
    const on = (token: string) => exchange(`Bearer ${token}`, connection);
    let x = on(alice);
    assert.equal(await run(authn, x), undefined);
    assert.equal(x.identity?.subject, 'alice');
    x = on(alice);
    assert.equal(authn.request!(x), undefined, 'the repeated token is a synchronous cache hit');
    assert.equal(x.identity?.subject, 'alice');
    assertRefused(await run(authn, on(tampered)));
    x = on(bob);
    assert.equal(await run(authn, x), undefined);
    assert.equal(x.identity?.subject, 'bob', 'another token on the same connection is its own identity');
    x = on(alice);
    assert.equal(await run(authn, x), undefined);
    assert.equal(x.identity?.subject, 'alice');
    const jti = JSON.parse(Buffer.from(alice.split('.')[1], 'base64url').toString()).jti;
    await h.store.put(revocationStoreKey('jti', jti), JSON.stringify({ kind: 'jti', id: jti, revokedAt: 0, expiresAt: 0 }));
    assert.match(assertRefused(await run(authn, on(alice))).message, /revoked/);
    assert.match(assertRefused(await run(authn, on(alice))).message, /revoked/, 'and again on the same connection');
  } finally {
    await h.close();
  }
});

test('rotation: tokens of the old key verify until they expire; the old key then lapses', async () => {
  const h = await harness();
  try {
    const { authn } = h.stages({});
    const old = await h.keys.issue({ sub: 'a', ttlSeconds: 600 });
    const oldKid = h.keys.kid;
    const upcoming = h.keys.nextKid;
    assert.ok(await h.store.get(keyStoreKey(upcoming)), 'the next key is published before it signs');
    const newKid = await h.keys.rotate();
    assert.notEqual(newKid, oldKid);
    assert.equal(newKid, upcoming, 'rotation switches to the key published ahead');
    const fresh = await h.keys.issue({ sub: 'a' });
    assert.equal(await run(authn, exchange(`Bearer ${old}`)), undefined);
    assert.equal(await run(authn, exchange(`Bearer ${fresh}`)), undefined);
    const record = JSON.parse((await h.store.get(keyStoreKey(oldKid)))!) as KeyRecord;
    const oldExp = JSON.parse(Buffer.from(old.split('.')[1], 'base64url').toString()).exp;
    assert.ok(record.notAfter >= oldExp, 'the retired key stays trusted through the last exp it signed');
    assert.deepEqual(h.keys.jwks().keys.map((k) => k.kid), [newKid, h.keys.nextKid, oldKid]);
    assert.equal('iss' in h.keys.jwks().keys[0], false, 'the JWKS carries only JWK members');
  } finally {
    await h.close();
  }
});

test('store unreachable past the staleness bound: 503 auth_unavailable (fail closed), back to normal once it is back and re-read', async () => {
  /** A MemoryStore whose connection flag the test flips (MemoryStore's own is a constant true). */
  const memory = new MemoryStore();
  const state = { up: true };
  const store = new Proxy(memory, {
    get: (target, prop) => (prop === 'connected' ? state.up : Reflect.get(target, prop, target)),
  });
  const h = await harness(store, 1000);
  try {
    const { authn } = h.stages({});
    const token = await h.keys.issue({ sub: 'a' });
    assert.equal(await run(authn, exchange(`Bearer ${token}`)), undefined);
    state.up = false;
    assert.equal(authn.request!(exchange(`Bearer ${token}`)), undefined, 'inside the bound: still served');
    h.time.advance(1500);
    const stale = authn.request!(exchange(`Bearer ${token}`)) as Verdict;
    assert.ok(stale instanceof MeshError);
    assert.equal(stale.status, 503);
    assert.equal(stale.code, 'auth_unavailable');
    assert.equal(h.auth.status().stale, true);
    state.up = true;
    // Reachable again, but revocations made meanwhile are only known once re-read: still closed until then.
    assert.equal((authn.request!(exchange(`Bearer ${token}`)) as MeshError).status, 503);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(authn.request!(exchange(`Bearer ${token}`)), undefined);
    assert.equal(h.auth.status().stale, false);
  } finally {
    await h.close();
  }
});
