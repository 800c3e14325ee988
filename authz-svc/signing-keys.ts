// authz-svc's signing keys: generate, publish the public JWK to `keys/<kid>`, issue JWTs, rotate without breaking tokens.
import { randomUUID } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import type { Store } from '../core/store/store.js';
import { keyStoreKey, publicJwk, type KeyRecord } from '../core/auth/key-record.js';
import { logger } from '../core/telemetry/log.js';
import { client } from '../core/telemetry/metrics.js';

const log = logger('signing-keys');

export const tokensIssued = new client.Counter({ name: 'meshgate_authz_tokens_issued_total', help: 'Tokens issued by authz-svc, by kind.', labelNames: ['kind'] as const });
const rotations = new client.Counter({ name: 'meshgate_authz_key_rotations_total', help: 'Signing key rotations.' });

export type SigningAlgorithm = 'ES256' | 'RS256' | 'EdDSA';
export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = ['ES256', 'RS256', 'EdDSA'];

export interface SigningKeysOptions {
  issuer: string;
  /** Default ES256. */
  algorithm?: SigningAlgorithm;
  /** Default `aud` of issued tokens when the request names none. */
  audience?: string;
  /** Default lifetime of an issued token (default 3600 s, or maxTtlSeconds when shorter). */
  defaultTtlSeconds?: number;
  /** Longest lifetime issue() accepts (default 86400 s): bounds how long a retired key stays published. */
  maxTtlSeconds?: number;
  /** Margin added to a retired key's last token exp, covering verifiers' clock skew (default 60 s). */
  skewSeconds?: number;
  /** Epoch-millisecond clock (injected in tests). */
  now?: () => number;
}

export interface IssueRequest {
  sub: string;
  /** Space-separated scopes (RFC 8693 §4.2). */
  scope?: string;
  aud?: string | string[];
  ttlSeconds?: number;
  /** Extra claims; the registered ones (iss, sub, aud, exp, nbf, iat, jti) are always set by the issuer. */
  claims?: Record<string, unknown>;
  clientId?: string;
}

interface OwnKey {
  kid: string;
  alg: SigningAlgorithm;
  privateKey: CryptoKey;
  record: KeyRecord;
  /** Latest exp of any token signed with it (epoch seconds). */
  maxExp: number;
}

const REGISTERED = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti']);

export class SigningKeys {
  readonly issuer: string;
  readonly algorithm: SigningAlgorithm;
  readonly maxTtlSeconds: number;
  private active!: OwnKey;
  /**
   * The key the next rotation switches to, published ahead (like an IdP's JWKS lists its upcoming key), so by
   * the time it signs every verifier already holds it: a rotation never makes a fresh token fail on a sidecar.
   */
  private next!: OwnKey;
  private retired: OwnKey[] = [];
  private renewTimer: NodeJS.Timeout | undefined;
  readonly defaultTtl: number;
  private readonly skew: number;
  /** The active key's published notAfter runs this far ahead and is renewed at half of it. */
  private readonly horizon: number;
  private readonly now: () => number;

  private constructor(
    private readonly store: Store,
    private readonly options: SigningKeysOptions,
  ) {
    this.issuer = options.issuer;
    this.algorithm = options.algorithm ?? 'ES256';
    this.maxTtlSeconds = options.maxTtlSeconds ?? 86_400;
    this.defaultTtl = options.defaultTtlSeconds ?? Math.min(3600, this.maxTtlSeconds);
    this.skew = options.skewSeconds ?? 60;
    this.horizon = Math.min(1200, Math.max(2, Math.ceil(this.maxTtlSeconds / 2)));
    this.now = options.now ?? Date.now;
    if (!SIGNING_ALGORITHMS.includes(this.algorithm)) throw new RangeError(`algorithm must be one of ${SIGNING_ALGORITHMS.join(', ')}`);
    if (this.defaultTtl > this.maxTtlSeconds) throw new RangeError('defaultTtlSeconds exceeds maxTtlSeconds');
  }

  static async create(store: Store, opts: SigningKeysOptions): Promise<SigningKeys> {
    const keys = new SigningKeys(store, opts);
    [keys.active, keys.next] = await Promise.all([keys.generate(), keys.generate()]);
    await Promise.all([keys.publish(keys.active), keys.publish(keys.next)]);
    // While a key signs (or waits to), its record is re-published before its lease runs out; if this process
    // dies the lease outlives every token it can have signed (maxTtl + skew past the last renewal) and lapses.
    keys.renewTimer = setInterval(() => {
      for (const key of [keys.active, keys.next])
        keys.publish(key).catch((err: Error) => log.warn({ err: err.message, kid: key.kid }, 'could not renew signing key record'));
    }, (keys.horizon * 1000) / 2);
    keys.renewTimer.unref();
    log.info({ kid: keys.active.kid, next: keys.next.kid, alg: keys.algorithm, issuer: keys.issuer }, 'signing keys published');
    return keys;
  }

  /** The kid new tokens are signed with. */
  get kid(): string {
    return this.active.kid;
  }

  /** The published key the next rotation will sign with. */
  get nextKid(): string {
    return this.next.kid;
  }

  /** Public records of this issuer's keys still trusted (active, next, then retired), for /.well-known/jwks.json. */
  records(): KeyRecord[] {
    const nowSec = this.now() / 1000;
    this.retired = this.retired.filter((k) => k.record.notAfter > nowSec);
    return [this.active.record, this.next.record, ...this.retired.map((k) => k.record)];
  }

  jwks(): { keys: ReturnType<typeof publicJwk>[] } {
    return { keys: this.records().map(publicJwk) };
  }

  /** The latest exp a token already issued can have (for revocation leases). */
  get latestExpiry(): number {
    return Math.max(this.active.maxExp, ...this.retired.map((k) => k.maxExp));
  }

  async issue(req: IssueRequest): Promise<string> {
    const ttl = req.ttlSeconds ?? this.defaultTtl;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > this.maxTtlSeconds) throw new RangeError(`ttlSeconds must be an integer from 1 to ${this.maxTtlSeconds}`);
    if (typeof req.sub !== 'string' || !req.sub) throw new RangeError('sub must be a non-empty string');
    // Choose the key and record the exp before any await, so a concurrent rotate() sees every token it signed.
    const key = this.active;
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + ttl;
    if (exp > key.maxExp) key.maxExp = exp;
    const payload: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(req.claims ?? {})) if (!REGISTERED.has(name)) payload[name] = value;
    if (req.scope !== undefined) payload.scope = req.scope;
    if (req.clientId !== undefined) payload.client_id = req.clientId;
    const jwt = new SignJWT(payload)
      // RFC 9068 §2.1: access tokens are typed at+jwt.
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
      .setIssuer(this.issuer)
      .setSubject(req.sub)
      .setJti(randomUUID())
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp);
    const aud = req.aud ?? this.options.audience;
    if (aud !== undefined) jwt.setAudience(aud);
    const token = await jwt.sign(key.privateKey);
    tokensIssued.labels({ kind: 'jwt' }).inc();
    return token;
  }

  /**
   * Sign with the pre-published next key from now on, and publish a new next one. The old key's record stays,
   * with notAfter = the last exp it signed (+ skew) and a lease ending then, so its tokens verify until they expire.
   */
  async rotate(): Promise<string> {
    const upcoming = await this.generate();
    await this.publish(upcoming);
    const old = this.active;
    this.active = this.next;
    this.next = upcoming;
    await this.retire(old);
    rotations.inc();
    log.info({ kid: this.active.kid, next: this.next.kid, retired: old.kid, retiredNotAfter: old.record.notAfter }, 'signing key rotated');
    return this.active.kid;
  }

  /** Replace the upcoming key (it was revoked before it ever signed) and unpublish it. */
  async replaceNext(): Promise<void> {
    const upcoming = await this.generate();
    await this.publish(upcoming);
    const dropped = this.next;
    this.next = upcoming;
    await this.store.delete(keyStoreKey(dropped.kid));
  }

  /** Drop a retired key from the JWKS at once (it was revoked as compromised). The active key cannot be forgotten. */
  forget(kid: string): void {
    this.retired = this.retired.filter((k) => k.kid !== kid);
  }

  /** Stop renewing; published records stay until their leases end (tokens already issued keep verifying). */
  async close(): Promise<void> {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  private async retire(key: OwnKey): Promise<void> {
    const nowSec = Math.floor(this.now() / 1000);
    const notAfter = Math.max(key.maxExp, nowSec) + this.skew;
    key.record = { ...key.record, notAfter };
    this.retired.push(key);
    await this.store.put(keyStoreKey(key.kid), JSON.stringify(key.record), { ttlSeconds: notAfter - nowSec });
  }

  private async publish(key: OwnKey): Promise<void> {
    const nowSec = Math.floor(this.now() / 1000);
    const notAfter = nowSec + this.maxTtlSeconds + this.horizon + this.skew;
    key.record = { ...key.record, notAfter };
    await this.store.put(keyStoreKey(key.kid), JSON.stringify(key.record), { ttlSeconds: notAfter - nowSec });
  }

  private async generate(): Promise<OwnKey> {
    const { publicKey, privateKey } = await generateKeyPair(this.algorithm, this.algorithm === 'RS256' ? { modulusLength: 2048 } : {});
    const jwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(jwk);
    const record: KeyRecord = {
      ...jwk,
      kid,
      alg: this.algorithm,
      use: 'sig',
      iss: this.issuer,
      notAfter: 0,
      publishedAt: Math.floor(this.now() / 1000),
      source: 'authz',
    } as KeyRecord;
    return { kid, alg: this.algorithm, privateKey, record, maxExp: 0 };
  }
}
