// authz-svc: owner of keys, tokens and revocation — HTTP API 7070, gRPC 7071, keys and revocations published to the store.
import type { Store } from '../core/store/store.js';
import type { IssuerConfig } from '../core/config/schema.js';
import { startAdmin, type AdminServer } from '../core/http/admin-server.js';
import { RevocationList } from '../core/auth/revocation-list.js';
import { logger } from '../core/telemetry/log.js';
import { SigningKeys, type SigningAlgorithm } from './signing-keys.js';
import { MemoryOpaqueTokenStore, RedisOpaqueTokenStore, type OpaqueTokenStore } from './opaque-tokens.js';
import { TokenService } from './token-service.js';
import { AdminCredential } from './admin-auth.js';
import { startHttpApi } from './http-api.js';
import { startAuthzGrpc } from './grpc-server.js';
import { JwksSync } from './jwks-sync.js';

export interface AuthzOptions {
  store: Store;
  /** Redis URL for opaque tokens; without it they live in memory (embedded mode). */
  redis?: string;
  httpPort: number;
  grpcPort: number;
  /** Optional separate admin listener (/healthz /readyz /metrics /config); the HTTP port serves these too. */
  adminPort?: number;
  /** MESHGATE_ADMIN_TOKEN: Bearer credential of the admin API (HTTP /v1/* and the admin RPCs). */
  adminToken: string;
  issuer: string;
  host?: string;
  algorithm?: SigningAlgorithm;
  /** Default `aud` of issued tokens. */
  audience?: string;
  /** Rotate the signing key this often (ms); 0/undefined = only on demand. */
  rotateEveryMs?: number;
  /** Longest token lifetime issued (default 86400 s). */
  maxTtlSeconds?: number;
  /** Clock-skew margin (s) added to retired-key and revocation leases (default 60). */
  skewSeconds?: number;
  /** External issuers to sync besides those in the live config's `issuers[]`. */
  issuers?: IssuerConfig[];
}

export interface AuthzNode {
  keys: SigningKeys;
  service: TokenService;
  jwks: JwksSync;
  httpPort: number;
  grpcPort: number;
  adminPort: number | undefined;
  close(): Promise<void>;
}

export async function startAuthz(o: AuthzOptions): Promise<AuthzNode> {
  const log = logger('authz-svc');
  const host = o.host ?? '127.0.0.1';
  const admin = new AdminCredential(o.adminToken);
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch((err: Error) => log.warn({ err: err.message }, 'close step failed'));
  };
  try {
    let opaque: OpaqueTokenStore;
    if (o.redis) {
      const redis = new RedisOpaqueTokenStore(o.redis);
      // Start even when Redis is down: JWTs and revocations work; /readyz says opaque tokens do not yet.
      if (!(await redis.connected(2000))) log.warn('redis not reachable yet: opaque tokens unavailable until it is');
      opaque = redis;
    } else {
      opaque = new MemoryOpaqueTokenStore();
    }
    closers.push(() => opaque.close());

    const keys = await SigningKeys.create(o.store, { issuer: o.issuer, algorithm: o.algorithm, audience: o.audience, maxTtlSeconds: o.maxTtlSeconds, skewSeconds: o.skewSeconds });
    closers.push(() => keys.close());
    const revocations = await RevocationList.watch(o.store);
    closers.push(() => revocations.close());
    const service = new TokenService({ store: o.store, keys, opaque, revocations, skewSeconds: o.skewSeconds });
    const jwks = await JwksSync.start({ store: o.store, issuers: o.issuers });
    closers.push(() => jwks.close());

    if (o.rotateEveryMs) {
      const timer = setInterval(() => {
        keys.rotate().catch((err: Error) => log.error({ err: err.message }, 'scheduled key rotation failed'));
      }, o.rotateEveryMs);
      timer.unref();
      closers.push(async () => clearInterval(timer));
    }

    const ready = () => {
      // Ready while the store is reachable: keys and revocations are written there. Opaque tokens may lag (Redis).
      const r = revocations.status();
      return {
        ready: o.store.connected,
        detail: { kid: keys.kid, store: o.store.connected ? 'up' : 'down', opaqueStore: { backend: opaque.backend, ready: opaque.ready() }, revocations: r.revocations, issuers: jwks.status() },
      };
    };
    const config = () => ({ role: 'authz', issuer: o.issuer, kid: keys.kid, nextKid: keys.nextKid, algorithm: keys.algorithm, maxTtlSeconds: keys.maxTtlSeconds });
    const http = await startHttpApi({ host, port: o.httpPort, service, keys, admin, ready, config });
    closers.push(() => http.close());
    const grpc = await startAuthzGrpc(service, admin, host, o.grpcPort);
    closers.push(() => grpc.close());
    let adminServer: AdminServer | undefined;
    if (o.adminPort !== undefined) {
      adminServer = await startAdmin({
        host,
        port: o.adminPort,
        role: 'authz',
        ready,
        config,
      });
      closers.push(() => adminServer!.close());
    }
    log.info({ httpPort: http.port, grpcPort: grpc.port, adminPort: adminServer?.port, host, issuer: o.issuer, kid: keys.kid, opaqueStore: opaque.backend }, 'authz-svc listening');
    return { keys, service, jwks, httpPort: http.port, grpcPort: grpc.port, adminPort: adminServer?.port, close };
  } catch (err) {
    await close();
    throw err;
  }
}
