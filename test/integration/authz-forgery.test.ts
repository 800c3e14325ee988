// The trust boundary under attack: a real sidecar (real etcd, real sockets) facing forged, malformed, expired and
// not-yet-valid tokens. Every one is a 401 JSON error with WWW-Authenticate, none reaches the app, nothing throws.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, base64url, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { request } from 'undici';
import { EtcdStore } from '../../core/store/etcd-store.js';
import type { MeshConfig } from '../../core/config/schema.js';
import { keyStoreKey } from '../../core/auth/key-record.js';
import { SigningKeys } from '../../authz-svc/signing-keys.js';
import { publishSnapshot } from '../../registry/publish.js';
import { EndpointSet } from '../../core/store/endpoints.js';
import { startSidecar, type SidecarNode } from '../../sidecar/main.js';
import { startEtcd, type EtcdProcess } from '../support/start-etcd.js';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { waitFor } from '../support/wait-for.js';
import { claimsOf, publishTestKey, rawSign, type TestKey } from '../support/auth-fixtures.js';

const ISSUER = 'https://meshgate.test';
let etcd: EtcdProcess;
let store: EtcdStore;
let endpoints: EndpointSet;
let app: FakeUpstream;
let sidecar: SidecarNode;
let keys: SigningKeys;
let mine: TestKey;
let foreign: TestKey;
let dir: string;
let base: string;

const config: MeshConfig = {
  apiVersion: 'meshgate/v1',
  services: [{ name: 'api' }],
  routes: [
    { name: 'secure', matches: [{ path: { type: 'PathPrefix', value: '/secure' } }], backendRefs: [{ name: 'api' }], auth: { scopes: ['api:read'] } },
    { name: 'audience', matches: [{ path: { type: 'PathPrefix', value: '/aud' } }], backendRefs: [{ name: 'api' }], auth: { audiences: ['api'] } },
  ],
};

before(async () => {
  etcd = await startEtcd();
  store = new EtcdStore({ endpoints: etcd.endpoint, prefix: `/authz-forgery-${process.pid}/` });
  await publishSnapshot(store, config, { author: 'test', message: 'forgery' });
  keys = await SigningKeys.create(store, { issuer: ISSUER });
  mine = await publishTestKey(store, 'ES256', ISSUER);
  foreign = await publishTestKey(store, 'ES256', 'https://other-issuer.example');
  app = await startFakeUpstream('api');
  endpoints = await EndpointSet.watch(store);
  dir = mkdtempSync(join(tmpdir(), 'meshgate-forgery-'));
  sidecar = await startSidecar({ store, endpoints, service: 'api', app: app.address, inboundPort: 0, outboundPort: 0, adminPort: 0, stateDir: dir });
  base = `http://127.0.0.1:${sidecar.inboundPort}`;
  const good = await keys.issue({ sub: 'alice', scope: 'api:read' });
  await waitFor(async () => (await call('/secure/x', `Bearer ${good}`)).status === 200, 'the sidecar to serve its config and keys');
});

after(async () => {
  await sidecar?.close();
  await endpoints?.close();
  await keys?.close();
  await app?.close();
  await store?.close();
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function call(path: string, authorization?: string | string[]) {
  const res = await request(`${base}${path}`, { headers: authorization === undefined ? {} : { authorization } });
  const text = await res.body.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, json };
}

const nowSec = () => Math.floor(Date.now() / 1000);
const enc = (v: unknown) => base64url.encode(typeof v === 'string' ? v : JSON.stringify(v));

test('a broad table of forged, malformed, expired and not-yet-valid tokens: all 401, none reaches the app', async () => {
  const good = await keys.issue({ sub: 'alice', scope: 'api:read' });
  const [h, p, s] = good.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString());
  const claims = claimsOf(good);
  const valid = { iss: ISSUER, sub: 'alice', scope: 'api:read', iat: nowSec(), exp: nowSec() + 300, jti: 'j-1' };
  const publicJwk = JSON.parse((await store.get(keyStoreKey(header.kid)))!);
  const rogue = await generateKeyPair('ES256');
  const rsa = await generateKeyPair('RS256');
  const pem = await exportSPKI(rsa.publicKey);
  const es = (hdr: Record<string, unknown>, body: unknown = valid) => rawSign({ alg: 'ES256', kid: mine.kid, ...hdr }, body, mine.privateKey);

  const forged: [string, string | string[]][] = [
    ['no credential', undefined as unknown as string],
    ['empty', ''],
    ['scheme only', 'Bearer'],
    ['other scheme', `Basic ${Buffer.from('alice:pw').toString('base64')}`],
    ['token without scheme', good],
    ['two credentials', `Bearer ${good}, Bearer ${good}`],
    ['alg none, no signature', `Bearer ${enc({ alg: 'none', typ: 'JWT' })}.${p}.`],
    ['alg none with the real signature', `Bearer ${enc({ alg: 'none', kid: header.kid })}.${p}.${s}`],
    ['alg None', `Bearer ${enc({ alg: 'None', kid: header.kid })}.${p}.`],
    ['HS256 keyed with the public JWK', `Bearer ${await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: header.kid }).sign(new TextEncoder().encode(JSON.stringify(publicJwk)))}`],
    ['HS256 keyed with the x coordinate', `Bearer ${await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: header.kid }).sign(base64url.decode(publicJwk.x))}`],
    ['HS256 keyed with a PEM public key', `Bearer ${await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: header.kid }).sign(new TextEncoder().encode(pem))}`],
    ['kid swap: rogue key under the real kid', `Bearer ${await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: header.kid }).sign(rogue.privateKey)}`],
    ['unknown kid', `Bearer ${await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'not-a-kid' }).sign(rogue.privateKey)}`],
    ['no kid', `Bearer ${await new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).sign(rogue.privateKey)}`],
    ['kid as a path', `Bearer ${await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: '../../keys/x' }).sign(rogue.privateKey)}`],
    ['another issuer\'s key signing our iss', `Bearer ${rawSign({ alg: 'ES256', kid: foreign.kid }, valid, foreign.privateKey)}`],
    ['RS256 header on an ES256 key', `Bearer ${rawSign({ alg: 'RS256', kid: mine.kid }, valid, rsa.privateKey)}`],
    ['tampered payload (sub)', `Bearer ${h}.${enc({ ...claims, sub: 'root' })}.${s}`],
    ['tampered payload (scope)', `Bearer ${h}.${enc({ ...claims, scope: 'api:read admin' })}.${s}`],
    ['tampered header (kid of another key)', `Bearer ${enc({ ...header, kid: mine.kid })}.${p}.${s}`],
    ['truncated signature', `Bearer ${good.slice(0, -6)}`],
    ['signature dropped', `Bearer ${h}.${p}.`],
    ['payload only', `Bearer ${p}`],
    ['four segments', `Bearer ${good}.${s}`],
    ['JWE-shaped (five segments)', `Bearer ${h}.${p}.${s}.${s}.${s}`],
    ['non-base64 segments', 'Bearer !!!.@@@.###'],
    ['percent-encoded', `Bearer ${encodeURIComponent(`${h}.${p}`)}%2E${s}`],
    ['JSON serialization', `Bearer ${enc({ payload: p, signatures: [{ protected: h, signature: s }] })}`],
    ['header not JSON', `Bearer ${enc('not json')}.${p}.${s}`],
    ['header a JSON array', `Bearer ${enc([1, 2])}.${p}.${s}`],
    ['payload a JSON string', `Bearer ${es({}, 'alice')}`],
    ['payload a JSON array', `Bearer ${es({}, [valid])}`],
    ['wrong typ (JWE)', `Bearer ${es({ typ: 'JWE' })}`],
    ['wrong typ (dpop+jwt)', `Bearer ${es({ typ: 'dpop+jwt' })}`],
    ['typ not a string', `Bearer ${es({ typ: 7 })}`],
    ['unknown crit', `Bearer ${es({ crit: ['urn:evil'], 'urn:evil': true })}`],
    ['embedded jwk', `Bearer ${es({ jwk: await exportJWK(rogue.publicKey) })}`],
    ['jku', `Bearer ${es({ jku: 'http://127.0.0.1:1/jwks' })}`],
    ['x5u', `Bearer ${es({ x5u: 'http://127.0.0.1:1/cert' })}`],
    ['x5c', `Bearer ${es({ x5c: ['MIIB'] })}`],
    ['b64 false', `Bearer ${es({ b64: false, crit: ['b64'] })}`],
    ['missing exp', `Bearer ${es({}, { ...valid, exp: undefined })}`],
    ['exp a string', `Bearer ${es({}, { ...valid, exp: String(nowSec() + 300) })}`],
    ['exp in the past', `Bearer ${es({}, { ...valid, exp: nowSec() - 60 })}`],
    ['exp long past', `Bearer ${es({}, { ...valid, iat: 1, exp: 2 })}`],
    ['nbf in the future', `Bearer ${es({}, { ...valid, nbf: nowSec() + 600 })}`],
    ['iat in the future', `Bearer ${es({}, { ...valid, iat: nowSec() + 600 })}`],
    ['iat not a number', `Bearer ${es({}, { ...valid, iat: 'yesterday' })}`],
    ['missing sub', `Bearer ${es({}, { ...valid, sub: undefined })}`],
    ['sub a number', `Bearer ${es({}, { ...valid, sub: 42 })}`],
    ['missing iss', `Bearer ${es({}, { ...valid, iss: undefined })}`],
    ['wrong iss', `Bearer ${es({}, { ...valid, iss: 'https://evil.example' })}`],
    ['huge token', `Bearer ${good}${'A'.repeat(9000)}`],
    ['huge header claim', `Bearer ${es({ pad: 'x'.repeat(9000) })}`],
    ['expired real token', `Bearer ${await (async () => { const k = await SigningKeys.create(store, { issuer: ISSUER, now: () => Date.now() - 7_200_000 }); const t = await k.issue({ sub: 'alice', scope: 'api:read', ttlSeconds: 60 }); await k.close(); return t; })()}`],
    ['not yet valid real token', `Bearer ${await (async () => { const k = await SigningKeys.create(store, { issuer: ISSUER, now: () => Date.now() + 3_600_000 }); const t = await k.issue({ sub: 'alice', scope: 'api:read' }); await k.close(); return t; })()}`],
  ];
  const received = app.received.length;
  for (const [name, authorization] of forged) {
    const res = await call('/secure/x', authorization);
    assert.equal(res.status, 401, `${name}: ${res.status} ${JSON.stringify(res.json)}`);
    assert.match(String(res.headers['www-authenticate']), /^Bearer error="invalid_token"/, name);
    assert.equal(res.json?.error?.code, 'invalid_token', name);
    assert.equal(typeof res.json?.error?.requestId, 'string', name);
    // A second time: the negative cache answers the same.
    assert.equal((await call('/secure/x', authorization)).status, 401, `${name} (again)`);
  }
  assert.equal(app.received.length, received, 'no forged request reached the app');
  // Sanity: the signers used above produce accepted tokens when nothing is forged.
  assert.equal((await call('/secure/x', `Bearer ${es({})}`)).status, 200, 'the untampered hand-signed token passes');
  assert.equal((await call('/secure/x', `Bearer ${good}`)).status, 200);
});

test('wrong audience and missing scope: 401 and 403 from the route policy; the sidecar keeps serving', async () => {
  const noAud = await keys.issue({ sub: 'bob', scope: 'api:read' });
  const otherAud = await keys.issue({ sub: 'bob', scope: 'api:read', aud: 'billing' });
  const rightAud = await keys.issue({ sub: 'bob', aud: ['billing', 'api'] });
  assert.equal((await call('/aud/x', `Bearer ${noAud}`)).status, 401);
  assert.equal((await call('/aud/x', `Bearer ${otherAud}`)).status, 401);
  assert.equal((await call('/aud/x', `Bearer ${rightAud}`)).status, 200);
  const noScope = await call('/secure/x', `Bearer ${rightAud}`);
  assert.equal(noScope.status, 403);
  assert.equal(noScope.json.error.code, 'insufficient_scope');
  assert.match(String(noScope.headers['www-authenticate']), /error="insufficient_scope", scope="api:read"/);
  // The app sees who called.
  const ok = await call('/secure/x', `Bearer ${noAud}`);
  assert.equal(ok.status, 200);
  const seen = app.received.at(-1)!.headers;
  assert.equal(seen['x-auth-subject'], 'bob');
  assert.equal(JSON.parse(Buffer.from(String(seen['x-auth-claims']), 'base64url').toString()).sub, 'bob');
});
