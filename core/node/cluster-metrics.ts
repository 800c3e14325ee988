// /metrics of a node run as several workers: summed over all of them. Any worker may take the admin connection;
// it asks the primary over IPC, which gathers every worker's registry with prom-client's AggregatorRegistry.
import cluster from 'node:cluster';
import { client, registry } from '../telemetry/metrics.js';

const ASK = 'meshgate:cluster-metrics-req';
const ANSWER = 'meshgate:cluster-metrics-res';
/** Above prom-client's own 5 s wait for the workers, so its error is the one reported. */
const ANSWER_TIMEOUT_MS = 7_000;

interface Message {
  type?: unknown;
  id?: number;
  text?: string;
  error?: string;
}

/** In the primary: answer the workers' requests for the sum. */
export function serveClusterMetrics(): void {
  const aggregator = new client.AggregatorRegistry();
  cluster.on('message', (worker, message: Message) => {
    if (message?.type !== ASK) return;
    const reply = (body: Omit<Message, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: ANSWER, id: message.id, ...body });
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (err: Error) => reply({ error: err.message }),
    );
  });
}

export interface MetricsSource {
  contentType: string;
  metrics(): Promise<string>;
}

const pending = new Map<number, { resolve(text: string): void; reject(err: Error): void; timer: NodeJS.Timeout }>();
let nextId = 0;
let joined: MetricsSource | undefined;

/**
 * In a worker: what its admin listener serves as /metrics (the sum, asked of the primary); undefined elsewhere.
 * The first call also answers the primary's gathering (prom-client listens once an AggregatorRegistry exists).
 */
export function workerMetrics(): MetricsSource | undefined {
  if (!cluster.isWorker) return undefined;
  if (joined) return joined;
  new client.AggregatorRegistry();
  process.on('message', (message: Message) => {
    if (message?.type !== ANSWER || typeof message.id !== 'number') return;
    const request = pending.get(message.id);
    if (!request) return;
    pending.delete(message.id);
    clearTimeout(request.timer);
    if (message.error !== undefined) request.reject(new Error(`cluster metrics: ${message.error}`));
    else request.resolve(message.text ?? '');
  });
  joined = {
    contentType: registry.contentType,
    metrics: () =>
      new Promise<string>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error('cluster metrics: the primary did not answer'));
        }, ANSWER_TIMEOUT_MS);
        pending.set(id, { resolve, reject, timer });
        process.send!({ type: ASK, id });
      }),
  };
  return joined;
}
