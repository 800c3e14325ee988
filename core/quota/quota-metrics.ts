// Quota metrics (prom-client): decisions by policy and outcome, leases, lease sizes, waits, fallback state, key counts.
import { batchedCounter, client, LATENCY_BUCKETS } from '../telemetry/metrics.js';

export { CountChild } from '../telemetry/metrics.js';

export type DecisionOutcome = 'allowed' | 'limited' | 'fallback_allowed' | 'fallback_limited' | 'unavailable';

export const quotaDecisions = batchedCounter(
  'meshgate_quota_decisions_total',
  'Quota decisions by policy, scope (local|global) and outcome (allowed, limited, fallback_allowed, fallback_limited, unavailable).',
  ['policy', 'scope', 'outcome'] as const,
);

export const quotaLeases = new client.Counter({
  name: 'meshgate_quota_leases_total',
  help: 'Lease requests a sidecar sent to quota-svc, by policy and result (granted, exhausted, error).',
  labelNames: ['policy', 'result'] as const,
});

export const quotaLeaseSize = new client.Histogram({
  name: 'meshgate_quota_lease_size',
  help: 'Tokens granted per lease, by policy.',
  labelNames: ['policy'] as const,
  buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
});

export const quotaGlobalChecks = batchedCounter(
  'meshgate_quota_global_checks_total',
  'Global-policy checks on the request path, by service.',
  ['service'] as const,
);

export const quotaGlobalWaits = batchedCounter(
  'meshgate_quota_global_waits_total',
  'Global-policy checks that waited for a lease from quota-svc (the local lease was empty), by service.',
  ['service'] as const,
);

export const quotaWaitSeconds = new client.Histogram({
  name: 'meshgate_quota_wait_seconds',
  help: 'Time a request waited for a lease from quota-svc.',
  labelNames: ['service'] as const,
  buckets: LATENCY_BUCKETS,
});

export const quotaFallback = new client.Gauge({
  name: 'meshgate_quota_fallback',
  help: '1 while quota-svc (or its Redis) is unreachable and global policies run on their failure mode, else 0.',
  labelNames: ['service'] as const,
  aggregator: 'max', // --workers: one worker on its fallback shows
});

const trackedBuckets = new Map<string, WeakRef<{ readonly size: number }>>();

export const quotaLocalKeys = new client.Gauge({
  name: 'meshgate_quota_keys',
  help: 'Keys held in process by quota bucket caches (bounded by their maxKeys), by cache.',
  labelNames: ['cache'] as const,
  collect() {
    this.reset();
    for (const [cache, ref] of trackedBuckets) {
      const buckets = ref.deref();
      if (buckets) this.set({ cache }, buckets.size);
      else trackedBuckets.delete(cache);
    }
  },
});

/** Report a bucket cache's size under `cache` (weakly held: a dropped cache stops being reported). */
export function trackKeys(cache: string, buckets: { readonly size: number }): void {
  trackedBuckets.set(cache, new WeakRef(buckets));
}

// quota-svc side
export const svcAcquires = new client.Counter({
  name: 'meshgate_quota_svc_acquires_total',
  help: 'Acquire calls answered by quota-svc, by result (granted, partial, exhausted, invalid, error).',
  labelNames: ['result'] as const,
});

export const svcAcquireDuration = new client.Histogram({
  name: 'meshgate_quota_svc_acquire_duration_seconds',
  help: 'Time quota-svc spent on one Acquire, store round trip included.',
  buckets: LATENCY_BUCKETS,
});

export const svcBackendUp = new client.Gauge({
  name: 'meshgate_quota_svc_backend_up',
  help: '1 when the quota store (Redis, or memory in embedded mode) is reachable, else 0.',
  labelNames: ['backend'] as const,
  aggregator: 'min',
});
