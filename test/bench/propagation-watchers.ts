// Worker thread of the propagation bench: hosts a share of the in-process ConfigWatch watchers (each with the real
// validate-compile-swap code) and reports, per expected version, when each of them swapped it in.
import { parentPort, workerData } from 'node:worker_threads';
import { log } from '../../core/telemetry/log.js';
import { EtcdStore } from '../../core/store/etcd-store.js';
import { ConfigWatch } from '../../core/config/config-watch.js';
import { SnapshotHolder } from '../../core/config/snapshot.js';

export interface WatchersData {
  endpoint: string;
  prefix: string;
  /** Index of this thread's first watcher (node ids are bench-watcher-<index>). */
  from: number;
  count: number;
  /** etcd clients in this thread; watchers are spread over them round-robin. */
  stores: number;
}

export type ToWatchers = { type: 'expect'; version: number } | { type: 'stop' };
export type FromWatchers =
  | { type: 'ready'; startMs: number }
  | { type: 'expecting'; version: number }
  /** Absolute times (performance.timeOrigin + now, ms) at which each watcher swapped `version` in. */
  | { type: 'swapped'; version: number; at: Float64Array }
  | { type: 'stopped' };

// One log line per swap per watcher would measure pino, not propagation.
log.level = 'warn';
const data = workerData as WatchersData;
const port = parentPort!;
const send = (m: FromWatchers) => port.postMessage(m);
const now = () => performance.timeOrigin + performance.now();
const BATCH = 50;

const stores = Array.from({ length: data.stores }, () => new EtcdStore({ endpoints: data.endpoint, prefix: data.prefix, requestTimeoutMs: 30_000 }));
const at = new Float64Array(data.count);
let target = -1;
let swapped = 0;
const watches: ConfigWatch[] = [];
for (let i = 0; i < data.count; i++) {
  const holder = new SnapshotHolder();
  holder.onSwap((s) => {
    if (s.version !== target || at[i] !== 0) return;
    at[i] = now();
    if (++swapped === data.count) send({ type: 'swapped', version: target, at: at.slice() });
  });
  watches.push(new ConfigWatch({ store: stores[i % data.stores], holder, role: 'sidecar', nodeId: `bench-watcher-${data.from + i}`, service: 'bench' }));
}

const t = performance.now();
// In batches: a thousand clients dialing at once on a small machine only measures the dial storm.
for (let i = 0; i < watches.length; i += BATCH) await Promise.all(watches.slice(i, i + BATCH).map((w) => w.start()));
send({ type: 'ready', startMs: performance.now() - t });

port.on('message', async (m: ToWatchers) => {
  if (m.type === 'expect') {
    target = m.version;
    swapped = 0;
    at.fill(0);
    send({ type: 'expecting', version: m.version });
  } else {
    await Promise.all(watches.map((w) => w.stop().catch(() => {})));
    await Promise.all(stores.map((s) => s.close().catch(() => {})));
    send({ type: 'stopped' });
    port.close();
  }
});
