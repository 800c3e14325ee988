// What the quota stages need at run time (QuotaDeps): local buckets and global leases, built once per sidecar.
//
// The sidecar builds one runtime at start and keeps it across config snapshots (buckets and leases survive
// reloads):
//
//   const quota = createQuotaRuntime({ service: 'echo', quotaAddress: process.env.MESHGATE_QUOTA, liveNodes });
//   const deps: SidecarDeps = { ..., quota };          // SidecarDeps extends QuotaDeps
//   readiness detail: { quota: quota.readiness() }     // in /readyz
//   on shutdown: await quota.close();
import { TokenBuckets } from './token-buckets.js';
import { trackKeys } from './quota-metrics.js';

export interface QuotaRuntimeOptions {
  /** The service this sidecar fronts (metric label; the unit `liveNodes` counts). */
  service: string;
  /** Max keys held by the local buckets (memory bound; default 1,000,000). */
  maxKeys?: number;
  /** Monotonic milliseconds (default performance.now); injected in tests. */
  now?: () => number;
}

export interface QuotaRuntime {
  readonly service: string;
  /** Local token buckets, shared by every route's chain and kept across snapshots. */
  readonly buckets: TokenBuckets;
  /** Monotonic milliseconds. */
  now(): number;
  /** Detail for /readyz. */
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
  return {
    service: options.service,
    buckets,
    now,
    readiness: () => ({ localKeys: buckets.size, maxKeys: buckets.maxKeys }),
    close: async () => {},
  };
}
