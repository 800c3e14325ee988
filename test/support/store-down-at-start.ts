// A MemoryStore as a node sees etcd when it starts while etcd is down (it serves its last-known-good config):
// unreachable, reads refused, watches delivering nothing, until `up()` — then each watch re-reads (reset + puts),
// as the etcd store's watches do once etcd answers.
import type { MemoryStore } from '../../core/store/memory-store.js';
import type { Store, WatchEvent, Watcher } from '../../core/store/store.js';

export interface DownStore {
  store: Store;
  /** etcd answers again: `connected` turns true and, unless `watches` is false, every watch re-reads. */
  up(options?: { watches?: boolean }): Promise<void>;
}

export function storeDownAtStart(memory: MemoryStore): DownStore {
  const state = { connected: false };
  const held: { prefix: string; listener: (event: WatchEvent) => void; inner?: Watcher; closed: boolean }[] = [];
  const unreachable = () => Promise.reject(new Error('etcd unreachable (test)'));
  const store = new Proxy(memory, {
    get: (target, prop) => {
      if (prop === 'connected') return state.connected;
      if (prop === 'get' || prop === 'getPrefix') return state.connected ? Reflect.get(target, prop, target).bind(target) : unreachable;
      if (prop === 'watch')
        return async (prefix: string, listener: (event: WatchEvent) => void): Promise<Watcher> => {
          const watch: (typeof held)[number] = { prefix, listener, closed: false };
          if (state.connected) watch.inner = await target.watch(prefix, listener);
          else held.push(watch);
          return {
            close: async () => {
              watch.closed = true;
              await watch.inner?.close();
            },
          };
        };
      return Reflect.get(target, prop, target);
    },
  }) as Store;
  return {
    store,
    up: async ({ watches = true } = {}) => {
      state.connected = true;
      if (!watches) return;
      for (const watch of held.splice(0)) if (!watch.closed) watch.inner = await memory.watch(watch.prefix, watch.listener);
    },
  };
}
