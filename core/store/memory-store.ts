// The in-memory Store of the embedded mode: same watch, lease and transaction semantics as etcd.
import { randomUUID } from 'node:crypto';
import type { Lease, Store, StorePut, WatchEvent, Watcher } from './store.js';
import { MAX_TIMER_MS } from '../config/duration.js';

interface Entry {
  value: string;
  leaseId?: string;
}

interface LeaseEntry {
  /** Until the TTL ends; none for a kept-alive lease. */
  timer: NodeJS.Timeout | undefined;
  keys: Set<string>;
}


interface Subscription {
  prefix: string;
  listener: (event: WatchEvent) => void;
}

export class MemoryStore implements Store {
  readonly connected = true;
  private readonly data = new Map<string, Entry>();
  private readonly subscriptions = new Set<Subscription>();
  private readonly leases = new Map<string, LeaseEntry>();

  async get(key: string): Promise<string | undefined> {
    return this.data.get(key)?.value;
  }

  async getPrefix(prefix: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const [key, entry] of this.data) if (key.startsWith(prefix)) out.set(key, entry.value);
    return out;
  }

  async put(key: string, value: string, options?: { ttlSeconds?: number }): Promise<void> {
    if (options?.ttlSeconds !== undefined) {
      const lease = await this.grantLease(options.ttlSeconds, false);
      await lease.put(key, value);
      return;
    }
    this.set(key, value);
  }

  async delete(key: string): Promise<void> {
    this.remove(key);
  }

  async compareAndSwap(key: string, expected: string | undefined, puts: StorePut[], deletes: string[] = []): Promise<boolean> {
    if (this.data.get(key)?.value !== expected) return false;
    for (const put of puts) this.set(put.key, put.value);
    for (const del of deletes) this.remove(del);
    return true;
  }

  async watch(prefix: string, listener: (event: WatchEvent) => void): Promise<Watcher> {
    const subscription = { prefix, listener };
    listener({ type: 'reset' });
    for (const [key, entry] of this.data) if (key.startsWith(prefix)) listener({ type: 'put', key, value: entry.value });
    this.subscriptions.add(subscription);
    return { close: async () => void this.subscriptions.delete(subscription) };
  }

  /** `keepAlive` false makes a one-shot lease that expires after its TTL (used for TTL puts). */
  async grantLease(ttlSeconds: number, keepAlive = true): Promise<Lease> {
    const id = randomUUID();
    const keys = new Set<string>();
    const expire = () => {
      this.leases.delete(id);
      for (const key of keys) if (this.data.get(key)?.leaseId === id) this.remove(key);
    };
    const entry: LeaseEntry = { timer: undefined, keys };
    // A kept-alive lease in memory never lapses: the process holding it is the store's process. A TTL longer than a
    // timer can hold (a revocation for a token valid 30 days) is waited out in steps.
    if (!keepAlive) {
      const deadline = Date.now() + ttlSeconds * 1000;
      const wait = () => {
        const left = deadline - Date.now();
        entry.timer = setTimeout(left > MAX_TIMER_MS ? wait : expire, Math.min(Math.max(left, 0), MAX_TIMER_MS));
        entry.timer.unref();
      };
      wait();
    }
    this.leases.set(id, entry);
    return {
      id,
      put: async (key, value) => {
        keys.add(key);
        this.set(key, value, id);
      },
      revoke: async () => {
        clearTimeout(entry.timer);
        expire();
      },
      onLost: () => {},
    };
  }

  /** Memory is never out of reach. */
  onReachable(): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    for (const { timer } of this.leases.values()) clearTimeout(timer);
    this.leases.clear();
    this.subscriptions.clear();
  }

  private set(key: string, value: string, leaseId?: string): void {
    this.data.set(key, { value, leaseId });
    this.emit({ type: 'put', key, value });
  }

  private remove(key: string): void {
    if (this.data.delete(key)) this.emit({ type: 'delete', key });
  }

  private emit(event: WatchEvent & { key: string }): void {
    for (const sub of this.subscriptions) if (event.key.startsWith(sub.prefix)) sub.listener(event);
  }
}
