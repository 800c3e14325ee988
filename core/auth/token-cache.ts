// Verified (and recently refused) tokens keyed by the sha256 of the token text: TTL never past `exp`, size bounded.
import { LRUCache } from 'lru-cache';
import type { Identity } from '../pipeline/exchange.js';
import { batchedCounter } from '../telemetry/metrics.js';

/** What a verified token leaves behind: the identity plus what revocation and policy checks read on every hit. */
export interface VerifiedToken {
  readonly ok: true;
  readonly identity: Identity;
  readonly jti: string | undefined;
  readonly sub: string;
  /** Epoch seconds; undefined only when a policy allowed a token without `exp`. */
  readonly exp: number | undefined;
  readonly iat: number | undefined;
  readonly kid: string | undefined;
  readonly alg: string | undefined;
  readonly audiences: readonly string[];
  /** Set for opaque tokens: the sha256 hex the revocation `opaque/<hash>` names. */
  readonly opaqueHash: string | undefined;
}

/** A token refused for a reason intrinsic to it (malformed, bad signature, expired): refused again without work. */
export interface RefusedToken {
  readonly ok: false;
  readonly description: string;
}

export type CachedToken = VerifiedToken | RefusedToken;

export interface TokenCacheOptions {
  /** Entries held at most (default 100 000). */
  max?: number;
  /**
   * Estimated bytes held at most (default 64 MiB). A cached token weighs what its claims do: ~1.7 KB resident for a
   * small token, ~13 KB for one with 4 KB of claims, so a bound on entries alone allowed over a gigabyte.
   */
  maxBytes?: number;
  /** Longest a verified token stays cached even when its `exp` is further (default 5 min). */
  maxTtlMs?: number;
  /** How long a refused token is remembered (default 5 s). */
  negativeTtlMs?: number;
  /** Epoch-millisecond clock (injected in tests). */
  now?: () => number;
}

const lookups = batchedCounter(
  'meshgate_auth_cache_lookups_total',
  'Token cache lookups by result: hit (verified), negative_hit (refused before), miss.',
  ['result'] as const,
);
const hitCounter = lookups.labels({ result: 'hit' });
const negativeCounter = lookups.labels({ result: 'negative_hit' });
const missCounter = lookups.labels({ result: 'miss' });

/**
 * Resident bytes of an entry, roughly: the identity's claims are held twice (the object and its base64url header)
 * next to the key, the fields and the object overhead (measured with many distinct tokens).
 */
function estimatedBytes(entry: CachedToken): number {
  return entry.ok ? 1024 + 2 * entry.identity.claimsHeader.length : 256 + 2 * entry.description.length;
}

export class TokenCache {
  private readonly lru: LRUCache<string, CachedToken>;
  private readonly maxTtlMs: number;
  private readonly negativeTtlMs: number;
  private readonly now: () => number;

  constructor(options: TokenCacheOptions = {}) {
    this.maxTtlMs = options.maxTtlMs ?? 300_000;
    this.negativeTtlMs = options.negativeTtlMs ?? 5_000;
    this.now = options.now ?? Date.now;
    // lru-cache checks TTL with its own clock; `exp` is re-checked on every hit with ours, so both bound it.
    // One weighted bound holds both limits: an entry weighs its estimated bytes, and at least its share of the bytes
    // when the cache holds `max` entries. lru-cache's own `max` would allocate its index for every entry up front.
    const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    const floor = Math.floor(maxBytes / (options.max ?? 100_000));
    this.lru = new LRUCache<string, CachedToken>({
      maxSize: maxBytes,
      sizeCalculation: (entry) => Math.max(floor, estimatedBytes(entry)),
      ttl: this.maxTtlMs,
      ttlResolution: 100,
    });
  }

  get size(): number {
    return this.lru.size;
  }

  /** Synchronous: a hit costs one map lookup; an expired entry is dropped and reported as a miss. */
  get(hash: string): CachedToken | undefined {
    const entry = this.lru.get(hash);
    if (entry === undefined) {
      missCounter.inc();
      return undefined;
    }
    if (entry.ok && entry.exp !== undefined && entry.exp * 1000 <= this.now()) {
      this.lru.delete(hash);
      missCounter.inc();
      return undefined;
    }
    (entry.ok ? hitCounter : negativeCounter).inc();
    return entry;
  }

  setVerified(hash: string, token: VerifiedToken, ttlCapMs = this.maxTtlMs): void {
    const untilExp = token.exp === undefined ? this.maxTtlMs : token.exp * 1000 - this.now();
    const ttl = Math.min(untilExp, this.maxTtlMs, ttlCapMs);
    if (ttl <= 0) return;
    this.lru.set(hash, token, { ttl });
  }

  setRefused(hash: string, description: string): void {
    this.lru.set(hash, { ok: false, description }, { ttl: this.negativeTtlMs });
  }

  delete(hash: string): void {
    this.lru.delete(hash);
  }

  /** Drop every verified entry matching a predicate (revocation eviction; O(n), runs on a store event, not per request). */
  evict(predicate: (token: VerifiedToken) => boolean): number {
    let n = 0;
    for (const [hash, entry] of this.lru.entries()) if (entry.ok && predicate(entry)) this.lru.delete(hash), n++;
    return n;
  }

  clear(): void {
    this.lru.clear();
  }
}
