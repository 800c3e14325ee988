// A data-plane node (edge, sidecar) as a process of its own: in each of its `--workers`, tracing, the store, the
// endpoint watch and the node are started, and drained on SIGTERM/SIGINT in the reverse order. A node that cannot
// start closes what it opened and fails with one line; a port it cannot bind is a usage error naming the flag.
import { randomUUID } from 'node:crypto';
import { EndpointSet } from '../store/endpoints.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { initTracing, shutdownTracing } from '../telemetry/tracing.js';
import { bindFailureAsUsage, checkDistinctPorts } from './bind-failure.js';
import { onSignals } from './drain-on-signals.js';
import { DEFAULT_STOP_TIMEOUT_MS, runWorkers, workerSlot } from './workers.js';
import { MAX_TIMER_MS } from '../config/duration.js';

export interface NodeContext {
  store: Store;
  endpoints: EndpointSet;
  /** The node id: `--node-id` (or `<idPrefix>-<random>`), with `-w<slot>` in a worker so nodes/<id> records differ. */
  nodeId: string;
}

export interface NodeProcessOptions {
  /** OTel service.name of this process's spans. */
  serviceName: string;
  etcd: string;
  prefix: string;
  workers: number;
  /** `--node-id`, if given. */
  nodeId: string | undefined;
  /** The generated id's prefix: `edge`, or the sidecar's service. */
  idPrefix: string;
  /** Once in the primary before forking (never in a single process): work the workers would race on. */
  beforeWorkers?: () => Promise<void>;
  /** The node's drain delay (`--drain-delay`): a worker's drain takes this much longer before it is overdue. */
  drainDelayMs?: number;
  /** Each listener's flag and the port it asks for: a port that cannot be bound is reported under its flag. */
  ports: Record<string, number>;
  /** Starts the node; when it throws, it has closed whatever it had started itself. */
  start(context: NodeContext): Promise<{ close(): Promise<void> }>;
}

export async function runNodeProcess(o: NodeProcessOptions): Promise<void> {
  checkDistinctPorts(o.ports);
  const nodeId = o.nodeId ?? `${o.idPrefix}-${randomUUID().slice(0, 8)}`;
  await runWorkers(
    o.workers,
    async () => {
      const slot = workerSlot();
      initTracing({ serviceName: o.serviceName });
      const store = openStore({ etcd: o.etcd, prefix: o.prefix });
      let endpoints: EndpointSet | undefined;
      let node: { close(): Promise<void> };
      try {
        endpoints = await EndpointSet.watch(store);
        node = await o.start({ store, endpoints, nodeId: slot === undefined ? nodeId : `${nodeId}-w${slot}` });
      } catch (err) {
        // Nothing of a node that failed to start stays open: no watch, no lease, no exporter keeping the process up.
        await endpoints?.close().catch(() => undefined);
        await store.close().catch(() => undefined);
        await shutdownTracing().catch(() => undefined);
        throw bindFailureAsUsage(err, o.ports);
      }
      onSignals(async () => {
        await node.close();
        await endpoints?.close();
        await store.close();
      });
    },
    // Workers parse the same flags; the environment gives them the id the primary chose when none was given.
    {
      env: { MESHGATE_NODE_ID: nodeId },
      prepare: o.beforeWorkers,
      // Above the drain delay plus the listeners' grace: a worker still in its drain delay is not killed.
      stopTimeoutMs: Math.min(MAX_TIMER_MS, DEFAULT_STOP_TIMEOUT_MS + (o.drainDelayMs ?? 0)),
    },
  );
}
