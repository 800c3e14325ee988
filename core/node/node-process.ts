// A data-plane node (edge, sidecar) as a process of its own: in each of its `--workers`, tracing, the store, the
// endpoint watch and the node are started, and drained on SIGTERM/SIGINT in the reverse order.
import { randomUUID } from 'node:crypto';
import { EndpointSet } from '../store/endpoints.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { initTracing } from '../telemetry/tracing.js';
import { onSignals } from './drain-on-signals.js';
import { runWorkers, workerSlot } from './workers.js';

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
  start(context: NodeContext): Promise<{ close(): Promise<void> }>;
}

export async function runNodeProcess(o: NodeProcessOptions): Promise<void> {
  const nodeId = o.nodeId ?? `${o.idPrefix}-${randomUUID().slice(0, 8)}`;
  await runWorkers(
    o.workers,
    async () => {
      const slot = workerSlot();
      initTracing({ serviceName: o.serviceName });
      const store = openStore({ etcd: o.etcd, prefix: o.prefix });
      const endpoints = await EndpointSet.watch(store);
      const node = await o.start({ store, endpoints, nodeId: slot === undefined ? nodeId : `${nodeId}-w${slot}` });
      onSignals(async () => {
        await node.close();
        await endpoints.close();
        await store.close();
      });
    },
    // Workers parse the same flags; the environment gives them the id the primary chose when none was given.
    { env: { MESHGATE_NODE_ID: nodeId }, prepare: o.beforeWorkers },
  );
}
