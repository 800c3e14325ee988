// Auth test fixtures: a sidecar's auth mirrors on its own store connection, and a verifier that runs the real stages.
import type { IncomingMessage, ServerResponse } from 'node:http';
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
