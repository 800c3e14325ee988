// /readyz of a node run as several workers: the node's readiness, not that of whichever worker took the admin
// connection. That worker asks the primary, which asks every live worker for its own state and combines them.
import cluster, { type Worker } from 'node:cluster';
import type { ReadyState } from '../http/admin-server.js';
import { answer, ask } from './cluster-ipc.js';

const NODE_KIND = 'meshgate:cluster-ready';
const WORKER_KIND = 'meshgate:worker-ready';
/** A listening worker that does not answer its state within this is counted not ready ("no answer"); short, so
 * /readyz still answers within a probe's usual 1 s timeout. */
const WORKER_TIMEOUT_MS = 500;

interface WorkerState extends ReadyState {
  slot: number;
}

/** Why a worker is not ready, from the `notReady` list every node runtime puts in its detail. */
function reasons(state: ReadyState): string[] {
  const notReady = state.detail?.notReady;
  return Array.isArray(notReady) ? notReady.map(String) : state.ready ? [] : ['unknown'];
}

/**
 * The node is ready when at least one worker takes traffic and every worker that takes traffic is ready. A worker
 * still starting (listeners not up) gets no connections from node:cluster yet, and one draining is on its way out
 * (it serves only through its drain delay), so either is reported under `workers` but does not hold the node down.
 */
export function combineReadiness(states: WorkerState[]): ReadyState {
  const serving = states.filter((s) => !reasons(s).some((r) => r === 'listeners' || r === 'draining'));
  const ready = serving.length > 0 && serving.every((s) => s.ready);
  const notReady = ready
    ? []
    : serving.length === 0
      ? ['workers']
      : serving.flatMap((s) => (s.ready ? [] : reasons(s).map((r) => `worker ${s.slot}: ${r}`)));
  return {
    ready,
    detail: { notReady, workers: states.map((s) => ({ slot: s.slot, ready: s.ready, ...s.detail })) },
  };
}

/** In the primary: answer a worker's /readyz with the combined state of all live workers. */
export function serveClusterReadiness(slotOf: (worker: Worker) => number | undefined): void {
  // A worker that has not listened yet cannot answer either, and node:cluster gives it no connections.
  const listening = new Set<number>();
  cluster.on('listening', (worker) => listening.add(worker.id));
  cluster.on('exit', (worker) => listening.delete(worker.id));
  answer(NODE_KIND, async () => {
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
    const states = await Promise.all(
      workers.map((w): Promise<WorkerState> => {
        const slot = slotOf(w) ?? 0;
        if (!listening.has(w.id)) return Promise.resolve({ slot, ready: false, detail: { notReady: ['listeners'] } });
        return ask<ReadyState>(WORKER_KIND, WORKER_TIMEOUT_MS, w).then(
          (state) => ({ ...state, slot }),
          () => ({ slot, ready: false, detail: { notReady: ['no answer'] } }),
        );
      }),
    );
    return combineReadiness(states.sort((a, b) => a.slot - b.slot));
  });
}

/**
 * What a node's admin listener serves as /readyz: `local` outside a cluster; in a worker, the primary's combined
 * answer (this worker answers the primary's question with `local`).
 */
export function clusterReadiness(local: () => ReadyState): () => ReadyState | Promise<ReadyState> {
  if (!cluster.isWorker) return local;
  answer(WORKER_KIND, local);
  return () => ask<ReadyState>(NODE_KIND, WORKER_TIMEOUT_MS + 1_000);
}
