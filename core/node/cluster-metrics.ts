// /metrics of a node run as several workers: summed over all of them. Any worker may take the admin connection;
// it asks the primary, which gathers every worker's registry with prom-client's AggregatorRegistry.
import cluster from 'node:cluster';
import { client, registry } from '../telemetry/metrics.js';
import { answer, ask } from './cluster-ipc.js';

const KIND = 'meshgate:cluster-metrics';
/** Above prom-client's own 5 s wait for the workers, so its error is the one reported. */
const ANSWER_TIMEOUT_MS = 7_000;

/** In the primary: answer the workers' requests for the sum. */
export function serveClusterMetrics(): void {
  const aggregator = new client.AggregatorRegistry();
  answer(KIND, () => aggregator.clusterMetrics());
}

export interface MetricsSource {
  contentType: string;
  metrics(): Promise<string>;
}

let joined: MetricsSource | undefined;

/**
 * In a worker: what its admin listener serves as /metrics (the sum, asked of the primary); undefined elsewhere.
 * The first call also answers the primary's gathering (prom-client listens once an AggregatorRegistry exists).
 */
export function workerMetrics(): MetricsSource | undefined {
  if (!cluster.isWorker) return undefined;
  if (joined) return joined;
  new client.AggregatorRegistry();
  joined = {
    contentType: registry.contentType,
    metrics: () => ask<string>(KIND, ANSWER_TIMEOUT_MS).catch((err: Error) => Promise.reject(new Error(`cluster metrics: ${err.message}`))),
  };
  return joined;
}
