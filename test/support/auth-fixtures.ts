// Auth test fixtures: a sidecar's auth mirrors on its own store connection, and a verifier that runs the real stages.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KeyObject, sign as cryptoSign, constants } from 'node:crypto';
import { base64url, calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { keyStoreKey, type KeyRecord } from '../../core/auth/key-record.js';
import { EtcdStore } from '../../core/store/etcd-store.js';
import type { Store } from '../../core/store/store.js';
import { compileConfig } from '../../core/config/compile.js';
import type { AuthPolicy, MeshConfig } from '../../core/config/schema.js';
import { Exchange } from '../../core/pipeline/exchange.js';
import type { Stage } from '../../core/pipeline/stage.js';
import { MeshError } from '../../core/errors.js';
import { startSidecarAuth, type SidecarAuth, type SidecarAuthOptions } from '../../core/auth/sidecar-auth.js';
import { jwtAuth } from '../../sidecar/stages/jwt-auth.js';
import { scopeAuthz } from '../../sidecar/stages/scope-authz.js';

/** The payload of a JWT, unverified (tests only). */
export function claimsOf(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

export interface Verdict {
  status: number;
  code?: string;
  subject?: string;
  wwwAuthenticate?: string;
}

/** jwt-auth + scope-authz for one route policy, as the sidecar builds them; `check` never throws. */
export function authChain(auth: SidecarAuth, policy: AuthPolicy = {}, issuers?: MeshConfig['issuers']): (token: string | undefined) => Promise<Verdict> {
  const config: MeshConfig = {
    apiVersion: 'meshgate/v1',
    ...(issuers && { issuers }),
    services: [{ name: 'svc', endpoints: ['127.0.0.1:1'] }],
    routes: [{ name: 'r', matches: [{}], backendRefs: [{ name: 'svc' }], auth: policy }],
  };
  const snapshot = compileConfig(config, { version: 1, digest: 'test' });
  const route = snapshot.routes[0];
  const stages = [jwtAuth.build({ route, snapshot, deps: auth.deps }), scopeAuthz.build({ route, snapshot, deps: auth.deps })].filter(
    (s): s is Stage => s !== undefined,
  );
  return async (token) => {
    const req = { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, method: 'GET', socket: { remoteAddress: '127.0.0.1' } };
    const x = new Exchange(req as unknown as IncomingMessage, {} as ServerResponse, 'sidecar-inbound');
    for (const stage of stages) {
      const verdict = await stage.request!(x);
      if (verdict instanceof MeshError) return { status: verdict.status, code: verdict.code, wwwAuthenticate: verdict.headers?.['www-authenticate'] };
      if (verdict) return { status: verdict.status };
    }
    return { status: 200, subject: x.identity?.subject };
  };
}

export interface Mirror {
  store: Store;
  auth: SidecarAuth;
  check: (token: string | undefined) => Promise<Verdict>;
  close(): Promise<void>;
}

/** A stand-in sidecar: its own etcd connection, key and revocation mirrors, token cache, and the real stages. */
export async function startMirror(endpoint: string, prefix: string, options: SidecarAuthOptions = {}, policy: AuthPolicy = {}): Promise<Mirror> {
  const store = new EtcdStore({ endpoints: endpoint, prefix });
  const auth = await startSidecarAuth(store, options);
  return {
    store,
    auth,
    check: authChain(auth, policy),
    close: async () => {
      await auth.close();
      await store.close();
    },
  };
}

/** Sign header.payload by hand: jose refuses to produce some forgeries (unknown crit, odd typ, mismatched alg). */
export function rawSign(header: Record<string, unknown>, payload: unknown, privateKey: CryptoKey): string {
  const input = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}`;
  const key = KeyObject.from(privateKey);
  const alg = String(header.alg);
  const signature = alg.startsWith('ES')
    ? cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
    : alg.startsWith('PS')
      ? cryptoSign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
      : cryptoSign(alg === 'EdDSA' ? null : 'sha256', Buffer.from(input), key);
  return `${input}.${base64url.encode(signature)}`;
}

export interface TestKey {
  kid: string;
  privateKey: CryptoKey;
  record: KeyRecord;
}

/** Publish a key the way authz-svc does (record at keys/<kid>), keeping its private half to sign test tokens. */
export async function publishTestKey(store: Store, alg: 'ES256' | 'RS256' | 'EdDSA', iss: string, notAfter = Math.floor(Date.now() / 1000) + 86_400): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg);
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  const record = { ...jwk, kid, alg, use: 'sig', iss, notAfter, publishedAt: 0, source: 'authz' } as KeyRecord;
  await store.put(keyStoreKey(kid), JSON.stringify(record));
  return { kid, privateKey, record };
}
