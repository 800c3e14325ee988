// The embedded mode's global limiter: the same fixed-window leases as Redis, in this process's memory.
import { LRUCache } from 'lru-cache';
import { countBound } from '../lru-bound.js';
import type { AcquireRequest, Grant, QuotaStore } from './quota-store.js';

/** Counts of two consecutive windows (slot = window index mod 2), as the Redis hash keeps them. */
interface WindowCount {
  start: [number, number];
  used: [number, number];
}

export interface MemoryQuotaStoreOptions {
  /** Epoch milliseconds (default Date.now); the one clock every caller shares, as Redis TIME is. */
  now?: () => number;
  /** Keys held at once (default 1,000,000; least recently used dropped). A stale window counts as empty. */
  maxKeys?: number;
}

export class MemoryQuotaStore implements QuotaStore {
  readonly backend = 'memory' as const;
  private readonly now: () => number;
  private readonly windows: LRUCache<string, WindowCount>;

  constructor(options: MemoryQuotaStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.windows = new LRUCache<string, WindowCount>(countBound(options.maxKeys ?? 1_000_000));
  }

  async acquire(request: AcquireRequest): Promise<Grant> {
    const now = this.now();
    let start = now - (now % request.windowMs);
    if (request.nextWindow) start += request.windowMs;
    const end = start + request.windowMs;
    const slot = (start / request.windowMs) % 2;
    const id = request.policy + '\u0000' + request.key;
    let count = this.windows.get(id);
    if (!count) this.windows.set(id, (count = { start: [-1, -1], used: [0, 0] }));
    if (count.start[slot] !== start) {
      count.start[slot] = start;
      count.used[slot] = 0;
    }
    const available = Math.max(0, request.limit - count.used[slot]);
    const granted = Math.min(request.requested, available);
    count.used[slot] += granted;
    return { granted, remaining: available - granted, resetMs: end - now, windowStartMs: start };
  }

  ready(): boolean {
    return true;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.windows.clear();
  }
}
