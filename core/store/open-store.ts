// Chooses the Store for a process: etcd when endpoints are given (MESHGATE_ETCD), else the in-memory store.
import { EtcdStore } from './etcd-store.js';
import { MemoryStore } from './memory-store.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  /** Comma-separated etcd client URLs; absent or empty = the embedded in-memory store. */
  etcd?: string;
  /** Key prefix in etcd; default `/meshgate/`. */
  prefix?: string;
}

export function openStore(options: OpenStoreOptions): Store {
  if (options.etcd && options.etcd.trim() !== '') return new EtcdStore({ endpoints: options.etcd, prefix: options.prefix });
  return new MemoryStore();
}
