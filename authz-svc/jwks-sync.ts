// External issuers: fetch each configured JWKS (undici, Cache-Control and ETag honoured, refresh interval) and publish
// its public keys into `keys/`, so sidecars never call an identity provider on the request path.
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Store, Watcher } from '../core/store/store.js';
import type { IssuerConfig, MeshConfig } from '../core/config/schema.js';
import { parseDuration } from '../core/config/duration.js';
import { KEYS_PREFIX, isAsymmetricAlgorithm, keyStoreKey, parseKeyRecord, type AsymmetricAlgorithm, type KeyRecord } from '../core/auth/key-record.js';
import { REVOCATION_SKEW_SECONDS, revocationStoreKey, type RevocationRecord } from '../core/auth/revocation-record.js';
import { logger } from '../core/telemetry/log.js';
import { client } from '../core/telemetry/metrics.js';

const log = logger('jwks-sync');

const syncs = new client.Counter({
  name: 'meshgate_authz_jwks_syncs_total',
  help: 'External JWKS fetches, by result (updated, not_modified, error).',
  labelNames: ['result'] as const,
});
const keysHeld = new client.Gauge({
  name: 'meshgate_authz_jwks_keys',
  help: 'Keys published from each external issuer.',
  labelNames: ['issuer'] as const,
});

export interface JwksSyncOptions {
  store: Store;
  /** Issuers given directly (CLI / tests); merged with `issuers` of the live config snapshot when watchConfig. */
  issuers?: IssuerConfig[];
  /** Follow `config/current` for `issuers[]` (default true). */
  watchConfig?: boolean;
  /** Default refresh when neither the config nor Cache-Control says (default 5 min). */
  defaultRefreshMs?: number;
  /** Never fetch one JWKS more often than this (default 10 s), whatever max-age says. */
  minRefreshMs?: number;
  /** How long published keys outlive the last successful fetch if authz-svc stops (default 24 h, at least 3 refreshes). */
  keyLeaseSeconds?: number;
  fetchTimeoutMs?: number;
  now?: () => number;
}

export interface IssuerSyncStatus {
  issuer: string;
  jwksUrl: string;
  keys: number;
  lastSuccessAt?: string;
  lastError?: string;
  nextFetchInMs?: number;
}

const MAX_JWKS_BYTES = 1024 * 1024;

/** RFC 7518 §6 / RFC 8037: the algorithm a key implies when the JWK does not say. */
function impliedAlgorithm(jwk: JWK): AsymmetricAlgorithm | undefined {
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'EC') return ({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as const)[jwk.crv as 'P-256'];
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  return undefined;
}

/** Only the public members, whatever else the document carried (a JWKS must never leak `d`, but don't trust it). */
function publicMembers(jwk: JWK): JWK | undefined {
  if (jwk.kty === 'RSA' && typeof jwk.n === 'string' && typeof jwk.e === 'string') return { kty: 'RSA', n: jwk.n, e: jwk.e };
  if (jwk.kty === 'EC' && typeof jwk.x === 'string' && typeof jwk.y === 'string') return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
  if (jwk.kty === 'OKP' && typeof jwk.x === 'string') return { kty: 'OKP', crv: jwk.crv, x: jwk.x };
  return undefined;
}

/** Cache-Control max-age in ms (no-store / no-cache → 0); undefined when absent. */
export function maxAgeMs(cacheControl: string | string[] | undefined): number | undefined {
  const text = Array.isArray(cacheControl) ? cacheControl.join(',') : cacheControl;
  if (!text) return undefined;
  if (/(^|,)\s*(no-store|no-cache)\s*(,|$)/i.test(text)) return 0;
  const m = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(text);
  return m ? Number(m[1]) * 1000 : undefined;
}

/** Store ids of an issuer's keys: `ext.<sha256(issuer)[0..12]>.<kid>`, so two issuers' kids never collide. */
function issuerPrefix(issuer: string): string {
  return `ext.${createHash('sha256').update(issuer).digest('hex').slice(0, 12)}.`;
}

class IssuerSync {
  private timer: NodeJS.Timeout | undefined;
  private etag: string | undefined;
  /** Key ids in the issuer's last fetched document (kept across 304 revalidations). */
  private listed: string[] = [];
  private closed = false;
  private running: Promise<void> | undefined;
  readonly status: IssuerSyncStatus;

  constructor(
    readonly config: IssuerConfig & { jwksUrl: string },
    private readonly o: Required<Omit<JwksSyncOptions, 'issuers' | 'store'>> & { store: Store },
  ) {
    this.status = { issuer: config.issuer, jwksUrl: config.jwksUrl, keys: 0 };
  }

  private get refreshMs(): number {
    return this.config.refreshInterval ? parseDuration(this.config.refreshInterval) : this.o.defaultRefreshMs;
  }

  start(): void {
    this.schedule(0);
  }

  /** Fetch now (tests, and the first run); concurrent calls share one fetch. */
  sync(): Promise<void> {
    this.running ??= this.fetchAndPublish().finally(() => (this.running = undefined));
    return this.running;
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.status.nextFetchInMs = delayMs;
    this.timer = setTimeout(() => {
      this.sync().then(
        (next) => next,
        () => undefined,
      );
    }, delayMs);
    this.timer.unref();
  }

  private async fetchAndPublish(): Promise<void> {
    const refresh = this.refreshMs;
    try {
      const res = await request(this.config.jwksUrl, {
        method: 'GET',
        headers: { accept: 'application/jwk-set+json, application/json', ...(this.etag && { 'if-none-match': this.etag }) },
        headersTimeout: this.o.fetchTimeoutMs,
        bodyTimeout: this.o.fetchTimeoutMs,
      });
      const maxAge = maxAgeMs(res.headers['cache-control']);
      // Honour max-age when it asks for an earlier refresh (not below the floor); the interval bounds staleness.
      const next = Math.min(refresh, Math.max(maxAge ?? refresh, this.o.minRefreshMs));
      if (res.statusCode === 304) {
        await res.body.dump();
        syncs.labels({ result: 'not_modified' }).inc();
        await this.publish(undefined);
        this.succeeded(next);
        return;
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new Error(`HTTP ${res.statusCode}`);
      }
      const length = Number(res.headers['content-length'] ?? 0);
      if (length > MAX_JWKS_BYTES) {
        await res.body.dump();
        throw new Error('JWKS larger than 1 MiB');
      }
      let text = '';
      for await (const chunk of res.body) {
        text += chunk;
        if (text.length > MAX_JWKS_BYTES) throw new Error('JWKS larger than 1 MiB');
      }
      const doc = JSON.parse(text) as { keys?: unknown };
      if (!doc || !Array.isArray(doc.keys)) throw new Error('not a JWK Set (no keys array)');
      const etag = res.headers.etag;
      this.etag = typeof etag === 'string' ? etag : undefined;
      await this.publish(doc.keys as JWK[]);
      syncs.labels({ result: 'updated' }).inc();
      this.succeeded(next);
    } catch (err) {
      syncs.labels({ result: 'error' }).inc();
      this.status.lastError = (err as Error).message;
      // Keys already published stay (their lease outlives many refreshes); retry sooner than the interval.
      log.warn({ issuer: this.config.issuer, url: this.config.jwksUrl, err: (err as Error).message }, 'JWKS fetch failed; keeping the keys already published');
      this.schedule(Math.min(refresh, Math.max(this.o.minRefreshMs, 30_000)));
    }
  }

  private succeeded(nextMs: number): void {
    this.status.lastSuccessAt = new Date(this.o.now()).toISOString();
    this.status.lastError = undefined;
    this.schedule(nextMs);
  }

  /** Publish the fetched keys (undefined = unchanged, renew leases only) and delete the issuer's keys that are gone. */
  private async publish(keys: JWK[] | undefined): Promise<void> {
    const store = this.o.store;
    const prefix = issuerPrefix(this.config.issuer);
    const existing = await store.getPrefix(`${KEYS_PREFIX}${prefix}`);
    const nowSec = Math.floor(this.o.now() / 1000);
    const lease = Math.max(this.o.keyLeaseSeconds, Math.ceil((3 * this.refreshMs) / 1000));
    const wanted = new Map<string, KeyRecord>();
    if (keys === undefined) {
      for (const [storeKey, text] of existing) {
        const r = parseKeyRecord(text);
        if (typeof r !== 'string') wanted.set(storeKey, r);
      }
    } else {
      for (const jwk of keys) {
        if (!jwk || typeof jwk !== 'object') continue;
        if (jwk.use !== undefined && jwk.use !== 'sig') continue;
        const material = publicMembers(jwk);
        if (!material) continue;
        const alg = jwk.alg ?? impliedAlgorithm(jwk);
        if (!isAsymmetricAlgorithm(alg)) continue;
        if (this.config.algorithms && !this.config.algorithms.includes(alg)) continue;
        const kid = typeof jwk.kid === 'string' && jwk.kid ? jwk.kid : await calculateJwkThumbprint(material);
        const record: KeyRecord = { ...material, kid, alg, use: 'sig', iss: this.config.issuer, notAfter: nowSec + lease, publishedAt: nowSec, source: 'jwks' } as KeyRecord;
        wanted.set(keyStoreKey(`${prefix}${kid}`), record);
      }
      this.listed = [...wanted.values()].map((r) => r.kid!);
    }
    await this.withholdRevoked(wanted, nowSec, lease);
    for (const [storeKey, record] of wanted) {
      const held = existing.has(storeKey) ? parseKeyRecord(existing.get(storeKey)!) : undefined;
      // Unchanged and far from its end: leave it (no new lease per refresh).
      if (held && typeof held !== 'string' && sameMaterial(held, record) && held.notAfter - nowSec > lease / 2) continue;
      const fresh = { ...record, notAfter: nowSec + lease, publishedAt: held && typeof held !== 'string' ? held.publishedAt : nowSec };
      await store.put(storeKey, JSON.stringify(fresh), { ttlSeconds: lease });
    }
    for (const storeKey of existing.keys()) if (!wanted.has(storeKey)) await store.delete(storeKey);
    this.status.keys = wanted.size;
    keysHeld.labels({ issuer: this.config.issuer }).set(wanted.size);
  }

  /**
   * A revoked key the issuer still lists is not published again, and its revocation is kept for as long as the
   * issuer lists it. Before, the revocation lapsed at the key's notAfter as of revoking (~24 h: each sync renews that
   * lease), and the compromised key was then trusted again.
   */
  private async withholdRevoked(wanted: Map<string, KeyRecord>, nowSec: number, lease: number): Promise<void> {
    const store = this.o.store;
    for (const kid of this.listed) {
      const revocationKey = revocationStoreKey('kid', kid);
      const text = await store.get(revocationKey);
      if (text === undefined) continue;
      for (const [storeKey, record] of wanted) if (record.kid === kid) wanted.delete(storeKey);
      let revocation: RevocationRecord;
      try {
        revocation = JSON.parse(text) as RevocationRecord;
      } catch {
        continue;
      }
      if (revocation.expiresAt - nowSec > lease / 2) continue;
      const expiresAt = nowSec + lease;
      await store.put(revocationKey, JSON.stringify({ ...revocation, expiresAt }), { ttlSeconds: lease + REVOCATION_SKEW_SECONDS });
      log.info({ issuer: this.config.issuer, kid, expiresAt }, 'revoked key still listed by its issuer; revocation extended');
    }
  }

  /** Stop fetching; with `unpublish`, delete this issuer's keys (it left the config). */
  async close(unpublish: boolean): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
    if (unpublish) {
      const store = this.o.store;
      for (const key of (await store.getPrefix(`${KEYS_PREFIX}${issuerPrefix(this.config.issuer)}`)).keys()) await store.delete(key);
      keysHeld.remove({ issuer: this.config.issuer });
    }
  }
}

function sameMaterial(a: KeyRecord, b: KeyRecord): boolean {
  return a.kid === b.kid && a.alg === b.alg && a.kty === b.kty && a.n === b.n && a.e === b.e && a.x === b.x && a.y === b.y && a.crv === b.crv;
}

export class JwksSync {
  private readonly syncs = new Map<string, IssuerSync>();
  private watcher: Watcher | undefined;
  private readonly o: Required<Omit<JwksSyncOptions, 'issuers' | 'store'>> & { store: Store };
  private configIssuers: IssuerConfig[] = [];
  private chain: Promise<void> = Promise.resolve();

  private constructor(private readonly options: JwksSyncOptions) {
    this.o = {
      store: options.store,
      watchConfig: options.watchConfig ?? true,
      defaultRefreshMs: options.defaultRefreshMs ?? 300_000,
      minRefreshMs: options.minRefreshMs ?? 10_000,
      keyLeaseSeconds: options.keyLeaseSeconds ?? 86_400,
      fetchTimeoutMs: options.fetchTimeoutMs ?? 5_000,
      now: options.now ?? Date.now,
    };
  }

  static async start(options: JwksSyncOptions): Promise<JwksSync> {
    const sync = new JwksSync(options);
    sync.reconcile();
    if (sync.o.watchConfig) {
      sync.watcher = await options.store.watch('config/current', (event) => {
        if (event.type !== 'put') return;
        try {
          const record = JSON.parse(event.value) as { config?: MeshConfig };
          sync.configIssuers = record.config?.issuers ?? [];
        } catch {
          return;
        }
        sync.reconcile();
      });
    }
    return sync;
  }

  /** Fetch every issuer now and wait (tests, and `startAuthz` so the first request finds the keys). */
  async syncAll(): Promise<void> {
    await this.chain;
    await Promise.all([...this.syncs.values()].map((s) => s.sync()));
  }

  status(): IssuerSyncStatus[] {
    return [...this.syncs.values()].map((s) => ({ ...s.status }));
  }

  async close(): Promise<void> {
    await this.watcher?.close();
    await this.chain;
    await Promise.all([...this.syncs.values()].map((s) => s.close(false)));
    this.syncs.clear();
  }

  /** Start syncs for new issuers, restart changed ones, stop (and unpublish) removed ones — serialized. */
  private reconcile(): void {
    this.chain = this.chain.then(async () => {
      const wanted = new Map<string, IssuerConfig & { jwksUrl: string }>();
      for (const issuer of [...(this.options.issuers ?? []), ...this.configIssuers])
        if (issuer.jwksUrl) wanted.set(issuer.issuer, issuer as IssuerConfig & { jwksUrl: string });
      for (const [name, running] of this.syncs) {
        const next = wanted.get(name);
        if (next && JSON.stringify(next) === JSON.stringify(running.config)) continue;
        await running.close(!next);
        this.syncs.delete(name);
      }
      for (const [name, config] of wanted) {
        if (this.syncs.has(name)) continue;
        const sync = new IssuerSync(config, this.o);
        this.syncs.set(name, sync);
        log.info({ issuer: name, url: config.jwksUrl }, 'syncing external JWKS');
        sync.start();
      }
    });
  }
}
