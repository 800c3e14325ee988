// The global limiter's store interface: fixed windows on the store's clock, tokens leased in batches.
// Implemented in Redis by quota-svc (Lua, atomic) and in memory for the embedded mode (memory-quota-store.ts).

export interface AcquireRequest {
  policy: string;
  key: string;
  limit: number;
  windowMs: number;
  requested: number;
  /** Lease from the window after the current one (prefetch shortly before a window ends). */
  nextWindow?: boolean;
}

export interface Grant {
  /** Tokens leased, 0..requested. */
  granted: number;
  /** Tokens left in the window after this grant. */
  remaining: number;
  /** Milliseconds until the window ends (the lease expires then). */
  resetMs: number;
  /** Window start on the store's clock (epoch ms). */
  windowStartMs: number;
}

export interface QuotaStore {
  readonly backend: 'redis' | 'memory';
  /** Atomic: concurrent callers never get more than `limit` tokens per window in total. */
  acquire(request: AcquireRequest): Promise<Grant>;
  /** True while the store is reachable. */
  ready(): boolean;
  /** Resolves when the store answers, rejects when it does not. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Thrown by a store that cannot answer (mapped to gRPC UNAVAILABLE). */
export class QuotaStoreUnavailable extends Error {
  override name = 'QuotaStoreUnavailable';
}

/** Validation shared by every entry point; returns the first bad field's message, or undefined. */
export function invalidAcquire(request: AcquireRequest): string | undefined {
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(request.policy)) return 'policy must match [A-Za-z0-9_.:-]{1,128}';
  if (Buffer.byteLength(request.key) > 1024) return 'key must be at most 1024 bytes';
  if (!Number.isInteger(request.limit) || request.limit < 1 || request.limit > 1e9) return 'limit must be an integer in 1..1e9';
  if (!Number.isInteger(request.windowMs) || request.windowMs < 1 || request.windowMs > 2 ** 31 - 1) return 'windowMs must be an integer in 1..2^31-1';
  if (!Number.isInteger(request.requested) || request.requested < 1 || request.requested > request.limit) return 'requested must be an integer in 1..limit';
  return undefined;
}
