// What the quota stages need at run time (QuotaDeps): local buckets and global leases, built once per sidecar.
//
// The sidecar builds one runtime at start and keeps it across config snapshots (buckets and leases survive
// reloads):
//
//   const quota = createQuotaRuntime({
//     service: 'echo',                                   // this sidecar's service
//     quotaAddress: opts.quotaAddress,                   // MESHGATE_QUOTA host:port; unset = global policies on failure mode
//     liveNodes: (service) => endpoints.count(service),  // live instances, for the fallback share and batch sizing
//   });
//   const deps: SidecarDeps = { ..., quota };            // interface SidecarDeps extends QuotaDeps
//   /readyz detail: { quota: quota.readiness() }         // informational: a degraded quota does not make the node unready
//   shutdown: await quota.close();
import { TokenBuckets } from './token-buckets.js';
import { trackKeys } from './quota-metrics.js';
import { LeaseClient, type LeaseClientOptions } from './lease-client.js';
import { AbsentQuotaBackend, GrpcQuotaBackend, type QuotaBackend } from './quota-client.js';

export interface QuotaRuntimeOptions {
  /** The service this sidecar fronts (metric label; the unit `liveNodes` counts). */
  service: string;
  /** quota-svc gRPC address, host:port (MESHGATE_QUOTA). */
  quotaAddress?: string;
  /** Instead of an address: a backend in this process (e.g. new StoreQuotaBackend(new MemoryQuotaStore())). */
  backend?: QuotaBackend;
  /** Live instances of a service (registry endpoints); default 1. */
  liveNodes?: (service: string) => number;
  /** Max keys held by the local buckets (memory bound; default 1,000,000). */
  maxKeys?: number;
  /** Monotonic milliseconds (default performance.now); injected in tests. */
  now?: () => number;
  /** Lease tuning: rpcTimeoutMs, probeIntervalMs, horizonMs, maxBatch, maxKeys (leases held). */
  lease?: Partial<Omit<LeaseClientOptions, 'backend' | 'service' | 'liveNodes' | 'now'>>;
}

export interface QuotaRuntime {
  readonly service: string;
  /** Local token buckets, shared by every route's chain and kept across snapshots. */
  readonly buckets: TokenBuckets;
  /** Global leases from quota-svc. */
  readonly leases: LeaseClient;
  /** Monotonic milliseconds. */
  now(): number;
  /** Detail for /readyz: local key count, global state (ok|degraded), waited fraction. */
  readiness(): Record<string, unknown>;
  close(): Promise<void>;
}

/** Mixed into the sidecar's deps: `interface SidecarDeps extends QuotaDeps, ... {}`. */
export interface QuotaDeps {
  quota: QuotaRuntime;
}

export function createQuotaRuntime(options: QuotaRuntimeOptions): QuotaRuntime {
  const buckets = new TokenBuckets({ maxKeys: options.maxKeys });
  trackKeys(`local:${options.service}`, buckets);
  const now = options.now ?? (() => performance.now());
  const backend = options.backend ?? (options.quotaAddress ? new GrpcQuotaBackend(options.quotaAddress) : new AbsentQuotaBackend());
  const leases = new LeaseClient({ ...options.lease, backend, service: options.service, liveNodes: options.liveNodes, now });
  return {
    service: options.service,
    buckets,
    leases,
    now,
    readiness: () => ({ localKeys: buckets.size, maxKeys: buckets.maxKeys, global: leases.readiness() }),
    close: () => leases.close(),
  };
}
