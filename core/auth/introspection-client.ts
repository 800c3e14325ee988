// The sidecar's gRPC client for authz-svc Introspect: a short lru-cache that also merges concurrent lookups of one token.
import * as grpc from '@grpc/grpc-js';
import { LRUCache } from 'lru-cache';
import { countBound } from '../lru-bound.js';
import { authzProto, type AuthzClient } from './authz-proto.js';
import { IntrospectionUnavailableError, type IntrospectionResult, type Introspector } from './introspection.js';
import { tokenHash } from './revocation-record.js';

export interface IntrospectionClientOptions {
  /** authz-svc gRPC address, host:port. */
  address: string;
  /** Per-call deadline (default 500 ms); past it the route's failure mode decides. */
  timeoutMs?: number;
  /** How long an active answer is reused (default 5 s, never past the token's exp). */
  positiveTtlMs?: number;
  /** How long an inactive answer is reused (default 2 s). */
  negativeTtlMs?: number;
  max?: number;
  now?: () => number;
}

export class IntrospectionClient implements Introspector {
  private readonly client: AuthzClient;
  private readonly cache: LRUCache<string, IntrospectionResult, string>;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(options: IntrospectionClientOptions) {
    const Authz = authzProto().Authz;
    this.client = new Authz(options.address, grpc.credentials.createInsecure());
    this.timeoutMs = options.timeoutMs ?? 500;
    this.now = options.now ?? Date.now;
    const positive = options.positiveTtlMs ?? 5_000;
    const negative = options.negativeTtlMs ?? 2_000;
    this.cache = new LRUCache<string, IntrospectionResult, string>({
      ...countBound(options.max ?? 10_000),
      ttl: positive,
      // lru-cache runs one fetch per key at a time: concurrent requests with one token make one RPC.
      fetchMethod: async (_hash, _stale, { context: token, options: entry }) => {
        const result = await this.call(token);
        entry.ttl = result.active ? Math.max(1, Math.min(positive, (result.exp ?? Infinity) * 1000 - this.now())) : negative;
        return result;
      },
    });
  }

  async introspect(token: string): Promise<IntrospectionResult> {
    const result = await this.cache.fetch(tokenHash(token), { context: token });
    return result ?? { active: false };
  }

  close(): void {
    this.client.close();
    this.cache.clear();
  }

  private call(token: string): Promise<IntrospectionResult> {
    return new Promise((resolve, reject) => {
      this.client.Introspect({ token }, { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (err || !res) return reject(new IntrospectionUnavailableError(`authz-svc introspection failed: ${err?.details ?? 'no answer'}`));
        if (!res.active) return resolve({ active: false });
        let claims: Record<string, unknown> | undefined;
        try {
          claims = res.claimsJson ? (JSON.parse(res.claimsJson) as Record<string, unknown>) : undefined;
        } catch {
          claims = undefined;
        }
        resolve({
          active: true,
          sub: res.sub,
          scope: res.scope || undefined,
          clientId: res.clientId || undefined,
          iss: res.iss || undefined,
          aud: res.aud.length ? res.aud : undefined,
          exp: res.exp || undefined,
          iat: res.iat || undefined,
          claims,
        });
      });
    });
  }
}
