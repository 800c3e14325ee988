// A MemoryStore behind an etcd that goes away and comes back, for unit tests of what waits on the store: while down
// it is unreachable (leases, puts and reads refused); `loseLeases()` is etcd expiring the kept-alive leases (their
// keys go, their owners hear `lost`); `up()` is etcd answering again (`onReachable` listeners run).
import type { MemoryStore } from '../../core/store/memory-store.js';
import type { Lease, Store } from '../../core/store/store.js';

export class FlakyStore {
  readonly store: Store;
  private connected = true;
  private readonly reachable = new Set<() => void>();
  private readonly alive = new Set<{ lease: Lease; lost: Set<() => void> }>();

  constructor(private readonly memory: MemoryStore) {
    const unreachable = () => Promise.reject(new Error('etcd unreachable (test)'));
    const guarded = (fn: (...args: never[]) => Promise<unknown>) => (...args: never[]) => (this.connected ? fn(...args) : unreachable());
    this.store = new Proxy(memory, {
      get: (target, prop) => {
        if (prop === 'connected') return this.connected;
        if (prop === 'onReachable')
          return (listener: () => void) => {
            this.reachable.add(listener);
            return () => this.reachable.delete(listener);
          };
        if (prop === 'grantLease') return guarded((ttl: number) => this.grant(ttl));
        if (prop === 'get' || prop === 'getPrefix' || prop === 'put' || prop === 'delete' || prop === 'compareAndSwap')
          return guarded(Reflect.get(target, prop, target).bind(target));
        return Reflect.get(target, prop, target);
      },
    }) as Store;
  }

  down(): void {
    this.connected = false;
  }

  /** etcd expires every kept-alive lease: its keys are deleted and its owner hears `lost`. */
  async loseLeases(): Promise<void> {
    const leases = [...this.alive];
    this.alive.clear();
    for (const { lease, lost } of leases) {
      await lease.revoke();
      for (const listener of lost) listener();
    }
  }

  up(): void {
    this.connected = true;
    for (const listener of this.reachable) listener();
  }

  private async grant(ttlSeconds: number): Promise<Lease> {
    const lease = await this.memory.grantLease(ttlSeconds);
    const held = { lease, lost: new Set<() => void>() };
    this.alive.add(held);
    return {
      id: lease.id,
      put: (key, value) => (this.connected ? lease.put(key, value) : Promise.reject(new Error('etcd unreachable (test)'))),
      revoke: async () => {
        this.alive.delete(held);
        await lease.revoke();
      },
      onLost: (listener) => void held.lost.add(listener),
    };
  }
}
