// /metrics of a node run as several workers. Any worker may take the admin connection; it asks the primary, which
// gathers every worker's registry (prom-client JSON) and merges them with prom-client's AggregatorRegistry, each
// metric by its own aggregator: counters and histograms summed, a gauge as it declares (`aggregator: 'max'` …; one
// that declares none is summed). A worker that dies leaves its counters and histograms in the sum, as the primary
// last collected them, so its replacement starting from zero does not make the node's counters go down (Prometheus
// would read a reset, and rate() would spike); its gauges go with it. prometheus_client's multiprocess mode keeps a
// dead process's counters the same way.
import cluster, { type Worker } from 'node:cluster';
import { client, registry } from '../telemetry/metrics.js';
import { answer, ask } from './cluster-ipc.js';

/** One registry's metrics as prom-client's getMetricsAsJSON() gives them (what AggregatorRegistry.aggregate takes). */
export type MetricsJson = Awaited<ReturnType<typeof registry.getMetricsAsJSON>>;

const NODE_KIND = 'meshgate:cluster-metrics';
const WORKER_KIND = 'meshgate:worker-metrics';
/** A worker that does not hand over its metrics within this counts with what it handed over last. */
const WORKER_TIMEOUT_MS = 5_000;
/** Above the wait for the workers, so a slow worker does not fail the scrape. */
const ANSWER_TIMEOUT_MS = 7_000;

/** Counters and histograms: they only grow, so what a worker counted before it died still counts. */
function cumulative(metrics: MetricsJson): MetricsJson {
  return metrics.filter((m) => (m.type as unknown) === 'counter' || (m.type as unknown) === 'histogram');
}

/**
 * What the primary knows of the workers' metrics: each live worker's last collected set, and the counters and
 * histograms of the workers gone (folded into one set once merged, so a node that replaced many workers does not
 * merge each of them on every scrape).
 */
export class ClusterMetricsBook {
  private readonly last = new Map<number, MetricsJson>();
  private retired: MetricsJson[] = [];
  private folding = false;

  /** A live worker's metrics, just collected. */
  collected(worker: number, metrics: MetricsJson): MetricsJson {
    this.last.set(worker, metrics);
    return metrics;
  }

  /** What a live worker that did not answer adds: its counters and histograms as last collected. */
  stale(worker: number): MetricsJson {
    return cumulative(this.last.get(worker) ?? []);
  }

  /** The worker is gone: its last counters and histograms stay in the sum, its gauges leave with it. */
  retire(worker: number): void {
    const metrics = this.last.get(worker);
    this.last.delete(worker);
    if (!metrics) return;
    this.retired.push(cumulative(metrics));
    void this.fold();
  }

  /** The node's metrics: the live workers' sets plus what the retired ones counted, each metric by its aggregator. */
  merge(live: MetricsJson[]): client.Registry {
    return client.AggregatorRegistry.aggregate([...live, ...this.retired]);
  }

  private async fold(): Promise<void> {
    if (this.folding || this.retired.length < 2) return;
    this.folding = true;
    try {
      const n = this.retired.length;
      const folded = await client.AggregatorRegistry.aggregate(this.retired.slice(0, n)).getMetricsAsJSON();
      // Until here every scrape merged the n sets themselves; sets retired meanwhile stay after the folded one.
      this.retired.splice(0, n, folded);
    } finally {
      this.folding = false;
    }
    void this.fold();
  }
}

/** In the primary: answer the workers' requests for the node's metrics. */
export function serveClusterMetrics(): void {
  const book = new ClusterMetricsBook();
  // 'disconnect', not 'exit': the IPC channel is closed, so no answer of that worker can still arrive after it.
  cluster.on('disconnect', (worker) => book.retire(worker.id));
  answer(NODE_KIND, async () => {
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
    const sets = await Promise.all(
      workers.map((w) =>
        ask<MetricsJson>(WORKER_KIND, WORKER_TIMEOUT_MS, w).then(
          (metrics) => book.collected(w.id, metrics),
          () => book.stale(w.id),
        ),
      ),
    );
    return book.merge(sets).metrics();
  });
}

export interface MetricsSource {
  contentType: string;
  metrics(): Promise<string>;
}

let joined: MetricsSource | undefined;

/**
 * In a worker: what its admin listener serves as /metrics (the node's, asked of the primary); undefined elsewhere.
 * The first call also answers the primary's gathering with this worker's registry.
 */
export function workerMetrics(): MetricsSource | undefined {
  if (!cluster.isWorker) return undefined;
  if (joined) return joined;
  answer(WORKER_KIND, () => registry.getMetricsAsJSON());
  joined = {
    contentType: registry.contentType,
    metrics: () => ask<string>(NODE_KIND, ANSWER_TIMEOUT_MS).catch((err: Error) => Promise.reject(new Error(`cluster metrics: ${err.message}`))),
  };
  return joined;
}
