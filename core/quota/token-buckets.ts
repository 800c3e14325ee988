// In-process token buckets (GCRA) for many keys in bounded memory: an lru-cache index → a slot in a Float64Array.
//
// GCRA (the generic cell rate algorithm, ITU-T I.371) is a token bucket kept as one number per key: the
// "theoretical arrival time" (TAT). A bucket of capacity C refilled at `limit` per `windowMs` has an emission
// interval T = windowMs / limit; a request is admitted when TAT' = max(TAT, now) + T stays within C·T of now.
// One double per key, no object per key, nothing allocated per request once a key exists.
//
// Memory bound: `maxKeys` keys (default 1,000,000), bounded by count with nothing preallocated (core/lru-bound.ts).
// Measured at a million IPv4 keys: ≈ 185 bytes a key (its string, a Map entry, lru-cache's list slots, 8 bytes
// of slab); an idle sidecar holds nothing. (Rebuilding a preallocated cache larger as it fills was tried: the
// copy stalled the event loop for 0.7 s at 262,144 keys.) When full, the least recently used key is forgotten,
// i.e. its bucket restarts full.
import { LRUCache } from 'lru-cache';
import { countBound } from '../lru-bound.js';

/** The result of one check; `TokenBuckets` reuses one instance per call site (read it before the next check). */
export class BucketResult {
  allowed = false;
  /** Tokens left after this request. */
  remaining = 0;
  /** Milliseconds until the bucket is full again. */
  resetMs = 0;
  /** Milliseconds until one token is available (0 when allowed). */
  retryAfterMs = 0;
  /** The TAT to store when the request is committed. */
  tat = 0;
  slot = -1;
}

/** Parameters of one bucket family, derived once per policy. */
export interface BucketShape {
  /** Emission interval T in ms: windowMs / limit. */
  readonly intervalMs: number;
  /** Capacity C in tokens. */
  readonly capacity: number;
}

export function bucketShape(limit: number, windowMs: number, burst: number | undefined): BucketShape {
  // The config check refuses a zero window ("0s" passes the duration pattern); should one reach here, no division by 0.
  return { intervalMs: Math.max(1, windowMs) / Math.max(1, limit), capacity: Math.max(1, burst ?? limit) };
}

const INITIAL_SLOTS = 1024;
/** Absorbs float rounding in C·T comparisons (a microsecond is far below any interval). */
const EPSILON_MS = 1e-3;

export class TokenBuckets {
  readonly maxKeys: number;
  private readonly index: LRUCache<string, number>;
  private tats: Float64Array;
  private nextSlot = 0;

  constructor(options: { maxKeys?: number } = {}) {
    // At least a route's worth of policies (≤ 8), so committing one never evicts a key checked beside it.
    this.maxKeys = Math.max(16, options.maxKeys ?? 1_000_000);
    this.index = new LRUCache<string, number>(countBound(this.maxKeys));
    this.tats = new Float64Array(Math.min(INITIAL_SLOTS, this.maxKeys));
  }

  get size(): number {
    return this.index.size;
  }

  /**
   * Would one more request for `key` be admitted at `now`? Fills `out` without changing the bucket;
   * `commit(out)` spends the token. Split so several policies can be checked before any is charged.
   */
  check(key: string, shape: BucketShape, now: number, out: BucketResult): BucketResult {
    const slot = this.index.get(key);
    const limitMs = shape.capacity * shape.intervalMs;
    // The rounding allowance never reaches a token: at a million a second one interval is a microsecond.
    const epsilon = Math.min(EPSILON_MS, shape.intervalMs / 4);
    let tat = slot === undefined ? now : this.tats[slot];
    if (tat < now) tat = now;
    const next = tat + shape.intervalMs;
    out.slot = slot ?? -1;
    if (next - now > limitMs + epsilon) {
      out.allowed = false;
      out.remaining = 0;
      out.resetMs = tat - now;
      out.retryAfterMs = next - limitMs - now;
      out.tat = tat;
      return out;
    }
    out.allowed = true;
    out.remaining = Math.min(shape.capacity - 1, Math.floor((limitMs - (next - now) + epsilon) / shape.intervalMs));
    out.resetMs = next - now;
    out.retryAfterMs = 0;
    out.tat = next;
    return out;
  }

  /** Spend the token `check` found (only when it was allowed). */
  commit(key: string, result: BucketResult): void {
    if (!result.allowed) return;
    if (result.slot >= 0) {
      this.tats[result.slot] = result.tat;
      return;
    }
    // Allocate first: it may grow (replace) the slab, so read `this.tats` only afterwards.
    const slot = this.allocate(key);
    this.tats[slot] = result.tat;
  }

  /**
   * Give back one token `commit` spent for `key` (a policy checked after this one refused the request): the TAT moves
   * back one interval. Never past a full bucket, since `check` reads a TAT in the past as now. A key forgotten since
   * (least recently used) has nothing to give back: its bucket restarts full.
   */
  refund(key: string, shape: BucketShape): void {
    const slot = this.index.peek(key);
    if (slot !== undefined) this.tats[slot] -= shape.intervalMs;
  }

  /** check + commit for the single-policy case. */
  take(key: string, shape: BucketShape, now: number, out: BucketResult): BucketResult {
    this.commit(key, this.check(key, shape, now, out));
    return out;
  }

  clear(): void {
    this.index.clear();
    this.nextSlot = 0;
  }

  private allocate(key: string): number {
    let slot: number;
    if (this.index.size >= this.maxKeys) {
      // Full: forget the least recently used key and reuse its slot.
      slot = this.index.pop()!;
    } else if (this.nextSlot < this.tats.length) {
      slot = this.nextSlot++;
    } else {
      const grown = new Float64Array(Math.min(this.tats.length * 2, this.maxKeys));
      grown.set(this.tats);
      this.tats = grown;
      slot = this.nextSlot++;
    }
    this.index.set(key, slot);
    return slot;
  }
}

const prefixes = new Map<string, string>();

/**
 * A short, process-wide prefix for the keys of one policy shape: the same policy keeps its buckets across config
 * reloads, a changed limit/window/burst starts fresh, and keys stay short (memory per key).
 */
export function bucketPrefix(policyId: string, limit: number, windowMs: number, burst: number | undefined): string {
  const identity = `${policyId}|${limit}|${windowMs}|${burst ?? ''}`;
  let prefix = prefixes.get(identity);
  if (prefix === undefined) prefixes.set(identity, (prefix = prefixes.size.toString(36) + '\u0000'));
  return prefix;
}
