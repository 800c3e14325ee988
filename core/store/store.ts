// The key-value-with-watch-and-leases interface every tier talks to: etcd in deployments, memory when embedded.

/**
 * A change under a watched prefix. `reset` means "forget everything you hold under this prefix;
 * the puts that follow are the whole state" — sent first on every watch, and again whenever the
 * store had to re-read (etcd reconnect, compacted revision), so a consumer never misses a delete.
 */
export type WatchEvent =
  | { type: 'reset' }
  | { type: 'put'; key: string; value: string }
  | { type: 'delete'; key: string };

export interface Watcher {
  close(): Promise<void>;
}

/** A lease kept alive by the store until revoked; keys put under it vanish when it expires. */
export interface Lease {
  readonly id: string;
  put(key: string, value: string): Promise<void>;
  revoke(): Promise<void>;
  /** Called when the store could not keep the lease alive (keys may be gone); the owner re-registers. */
  onLost(listener: () => void): void;
}

export interface StorePut {
  key: string;
  value: string;
}

export interface Store {
  /** Keys are relative to the store's prefix (default `/meshgate/`): `config/current`, `keys/<kid>`. */
  get(key: string): Promise<string | undefined>;
  /** Every key under a prefix, keyed by the full relative key. */
  getPrefix(prefix: string): Promise<Map<string, string>>;
  /** Put a value; with `ttlSeconds` it is attached to a fresh lease and expires by itself. */
  put(key: string, value: string, options?: { ttlSeconds?: number }): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * One atomic transaction: if `key` currently holds `expected` (undefined = absent), apply all puts
   * and deletes and return true; otherwise change nothing and return false.
   */
  compareAndSwap(key: string, expected: string | undefined, puts: StorePut[], deletes?: string[]): Promise<boolean>;
  /** Watch a prefix; the listener first receives `reset` plus a put per existing key. */
  watch(prefix: string, listener: (event: WatchEvent) => void): Promise<Watcher>;
  grantLease(ttlSeconds: number): Promise<Lease>;
  /** True while the store can reach its backend (always true in memory). */
  readonly connected: boolean;
  /**
   * Called each time the store reaches its backend again after it could not (never in memory): whatever waits on
   * the store (a registration whose lease was lost while it was away) goes on at once, not on its backoff timer.
   * Returns a function that removes the listener.
   */
  onReachable(listener: () => void): () => void;
  close(): Promise<void>;
}
