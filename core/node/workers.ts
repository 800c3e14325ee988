// `--workers N`: run a node's start function in N node:cluster workers sharing its listening ports, restart a
// worker that dies, stop them all on SIGTERM/SIGINT, and serve the workers' metrics summed by prom-client.
import cluster, { type Worker } from 'node:cluster';
import http from 'node:http';
import { client } from '../telemetry/metrics.js';
import { logger } from '../telemetry/log.js';

export interface WorkersOptions {
  /** Where the primary serves GET /metrics aggregated over every worker (prom-client AggregatorRegistry). */
  metrics?: { host: string; port: number };
  /** A worker dying more often than this per minute is not restarted (a crash loop; default 10). */
  maxRestartsPerMinute?: number;
  /** Workers still running this long after SIGTERM are killed (default 10 s, above the listeners' grace). */
  stopTimeoutMs?: number;
}

/**
 * n ≤ 1: `start()` in this process. Otherwise this process becomes the primary and forks n workers, each of
 * which runs `start()` with its own store watches, caches and pools; node:cluster hands them the listeners'
 * connections. Resolves in a worker once `start()` has; in the primary once the workers are forked.
 */
export async function runWorkers(n: number, start: () => Promise<void>, options: WorkersOptions = {}): Promise<void> {
  // Each worker answers the primary's metric requests over IPC (prom-client registers that on construction).
  if (cluster.isWorker) {
    new client.AggregatorRegistry();
    return start();
  }
  if (!Number.isInteger(n) || n <= 1) return start();

  const log = logger('workers');
  const aggregator = new client.AggregatorRegistry();
  const maxRestarts = options.maxRestartsPerMinute ?? 10;
  const restarts: number[] = [];
  let stopping = false;

  const fork = (): Worker => cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    const now = Date.now();
    while (restarts.length && restarts[0] < now - 60_000) restarts.shift();
    if (restarts.length >= maxRestarts) {
      log.error({ pid: worker.process.pid, code, signal }, 'worker died; too many restarts in the last minute, not restarting');
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(1);
      return;
    }
    restarts.push(now);
    log.warn({ pid: worker.process.pid, code, signal }, 'worker died; starting another');
    fork();
  });
  for (let i = 0; i < n; i++) fork();
  log.info({ workers: n }, 'workers started');

  let metricsServer: http.Server | undefined;
  if (options.metrics) {
    metricsServer = http.createServer((req, res) => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      aggregator.clusterMetrics().then(
        (text) => res.writeHead(200, { 'content-type': aggregator.contentType }).end(text),
        (err: Error) => {
          log.warn({ err: err.message }, 'cluster metrics failed');
          res.writeHead(503).end();
        },
      );
    });
    const { host, port } = options.metrics;
    await new Promise<void>((resolve, reject) => metricsServer!.once('error', reject).listen(port, host, () => resolve()));
    const address = metricsServer.address();
    log.info({ host, port: typeof address === 'object' && address ? address.port : port }, 'aggregated worker metrics listening');
  }

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    metricsServer?.close();
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => Boolean(w));
    log.info({ signal, workers: workers.length }, 'stopping workers');
    // Each worker drains (its own SIGTERM handler closes listeners gracefully); stragglers are killed.
    for (const w of workers) w.process.kill(signal);
    const timer = setTimeout(() => {
      for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
    }, options.stopTimeoutMs ?? 10_000);
    timer.unref();
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
