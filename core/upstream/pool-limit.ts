// Connection-pool limits per endpoint (Envoy's max_connections / max_pending_requests): undici holds at most
// maxConnections sockets and queues the rest; beyond maxPending queued tries the answer is 503 `overloaded` at
// once rather than an unbounded queue that turns a slow upstream into a memory and latency problem here.
import { MeshError } from '../errors.js';
import { client } from '../telemetry/metrics.js';
import type { Layer } from './upstream.js';

export const POOL_DEFAULTS = { maxConnections: 128, maxPending: 1024 };

const overflows = new client.Counter({
  name: 'meshgate_pool_overflow_total',
  help: 'Tries refused with 503 because the endpoint connection pool and its queue were full.',
  labelNames: ['tier', 'service'] as const,
});

export function poolLimit(tier: string): Layer {
  const inFlight = new Map<string, number>();
  return (next) => (x) => {
    const limits = x.snapshot?.services.get(x.service)?.connectionPool;
    const cap = (limits?.maxConnections ?? POOL_DEFAULTS.maxConnections) + (limits?.maxPending ?? POOL_DEFAULTS.maxPending);
    const address = x.upstreamAddress;
    const n = inFlight.get(address) ?? 0;
    if (n >= cap) {
      overflows.labels(tier, x.service).inc();
      return Promise.reject(new MeshError('overloaded', `The connection pool to "${x.service}" is full.`));
    }
    inFlight.set(address, n + 1);
    const release = () => inFlight.set(address, inFlight.get(address)! - 1);
    return next(x).then(
      (response) => {
        release();
        return response;
      },
      (err: unknown) => {
        release();
        throw err;
      },
    );
  };
}
