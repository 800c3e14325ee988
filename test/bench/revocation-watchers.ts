// Worker thread of the revocation propagation bench: hosts a share of the in-process RevocationList mirrors (the real
// sidecar code, each with its own etcd watch) and reports, per expected jti, when each of them refuses it.
import { parentPort, workerData } from 'node:worker_threads';
import { log } from '../../core/telemetry/log.js';
import { EtcdStore } from '../../core/store/etcd-store.js';
import { RevocationList } from '../../core/auth/revocation-list.js';

export interface RevocationWatchersData {
  endpoint: string;
  prefix: string;
  count: number;
  /** etcd clients in this thread; mirrors are spread over them round-robin. */
  stores: number;
}

export type ToRevocationWatchers = { type: 'expect'; jti: string; sub: string } | { type: 'stop' };
export type FromRevocationWatchers =
  | { type: 'ready' }
  | { type: 'expecting'; jti: string }
  /** Absolute times (performance.timeOrigin + now, ms) at which each mirror refused the token. */
  | { type: 'refused'; jti: string; at: Float64Array }
  | { type: 'stopped' };

log.level = 'warn';
const data = workerData as RevocationWatchersData;
const port = parentPort!;
const now = () => performance.timeOrigin + performance.now();

const stores = Array.from({ length: data.stores }, () => new EtcdStore({ endpoints: data.endpoint, prefix: data.prefix }));
const lists = await Promise.all(Array.from({ length: data.count }, (_, i) => RevocationList.watch(stores[i % stores.length])));
let expected: { jti: string; sub: string; at: Float64Array; left: number } | undefined;
lists.forEach((list, i) => {
  list.onRevoked((record) => {
    const e = expected;
    if (!e || record.kind !== 'jti' || record.id !== e.jti || e.at[i] !== 0) return;
    // The real check a sidecar runs per request, not just the event.
    if (!list.isRevoked({ jti: e.jti, sub: e.sub, iat: 0, kid: undefined, opaqueHash: undefined })) return;
    e.at[i] = now();
    if (--e.left === 0) {
      expected = undefined;
      port.postMessage({ type: 'refused', jti: e.jti, at: e.at } satisfies FromRevocationWatchers);
    }
  });
});
port.on('message', async (m: ToRevocationWatchers) => {
  if (m.type === 'expect') {
    expected = { jti: m.jti, sub: m.sub, at: new Float64Array(lists.length), left: lists.length };
    port.postMessage({ type: 'expecting', jti: m.jti } satisfies FromRevocationWatchers);
  } else {
    await Promise.all(lists.map((l) => l.close()));
    await Promise.all(stores.map((s) => s.close()));
    port.postMessage({ type: 'stopped' } satisfies FromRevocationWatchers);
  }
});
port.postMessage({ type: 'ready' } satisfies FromRevocationWatchers);
