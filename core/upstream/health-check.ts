// Optional active HTTP health checks per service (`healthCheck` in routes.yaml): each endpoint's path is probed
// on an interval; after `unhealthyThreshold` failed probes it leaves load balancing, after `healthyThreshold`
// good ones it returns. Passive outlier ejection catches what probes miss, and the reverse.
import { parseDuration } from '../config/duration.js';
import type { CompiledSnapshot } from '../config/compile.js';
import type { ServiceConfig } from '../config/schema.js';
import { logger } from '../telemetry/log.js';
import type { EndpointFilter } from './balance.js';
import { endpointsOf, type EndpointSource } from './endpoints.js';
import type { PoolSet } from './pool.js';

export const HEALTH_DEFAULTS = { intervalMs: 5_000, timeoutMs: 1_000, unhealthyThreshold: 3, healthyThreshold: 2 };

const log = logger('health-check');

type HealthCheckConfig = NonNullable<ServiceConfig['healthCheck']>;

interface Health {
  healthy: boolean;
  failures: number;
  successes: number;
  nextAt: number;
  probing: boolean;
}

export interface HealthCheckOptions {
  snapshot: () => CompiledSnapshot | undefined;
  endpoints: EndpointSource;
  pools: PoolSet;
  /** How often the scheduler looks for probes that are due. */
  tickMs?: number;
  now?: () => number;
}

export class HealthChecks implements EndpointFilter {
  private readonly health = new Map<string, Health>();
  private readonly timer: NodeJS.Timeout;
  private readonly probes = new Set<Promise<void>>();
  private readonly now: () => number;

  constructor(private readonly o: HealthCheckOptions) {
    this.now = o.now ?? (() => performance.now());
    this.timer = setInterval(() => this.tick(), o.tickMs ?? 100);
    this.timer.unref();
    o.pools.onClose(() => this.stop());
  }

  excluded(address: string): boolean {
    const h = this.health.get(address);
    return h !== undefined && !h.healthy;
  }

  /** Resolves when the probes started so far have finished. */
  async settled(): Promise<void> {
    await Promise.all([...this.probes]);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Start the probes that are due (exposed for tests that drive the clock). */
  tick(): void {
    const snapshot = this.o.snapshot();
    if (!snapshot) return;
    const now = this.now();
    const seen = new Set<string>();
    for (const [name, service] of snapshot.services) {
      const check = service.healthCheck;
      if (!check) continue;
      for (const address of endpointsOf(snapshot, this.o.endpoints, name)) {
        seen.add(address);
        let h = this.health.get(address);
        if (!h) this.health.set(address, (h = { healthy: true, failures: 0, successes: 0, nextAt: now, probing: false }));
        if (h.probing || now < h.nextAt) continue;
        h.probing = true;
        h.nextAt = now + (check.interval ? parseDuration(check.interval) : HEALTH_DEFAULTS.intervalMs);
        const probe = this.probe(name, address, check, h).finally(() => this.probes.delete(probe));
        this.probes.add(probe);
      }
    }
    // Endpoints that left (or whose service dropped its check) are forgotten.
    for (const address of this.health.keys()) if (!seen.has(address)) this.health.delete(address);
  }

  private async probe(service: string, address: string, check: HealthCheckConfig, h: Health): Promise<void> {
    const timeout = check.timeout ? parseDuration(check.timeout) : HEALTH_DEFAULTS.timeoutMs;
    let ok = false;
    try {
      const res = await this.o.pools.get(address).request({
        path: check.path,
        method: 'GET',
        headers: { 'user-agent': 'meshgate-health-check' },
        // Timed on a native timer: undici's headersTimeout runs on ~0.5 s fast timers and can fire that much early,
        // failing an endpoint that answered well within the check's timeout.
        signal: AbortSignal.timeout(timeout),
        headersTimeout: 0,
        bodyTimeout: timeout,
      });
      await res.body.dump();
      ok = res.statusCode >= 200 && res.statusCode < 300;
    } catch {
      ok = false;
    }
    h.probing = false;
    if (ok) {
      h.failures = 0;
      h.successes++;
      if (!h.healthy && h.successes >= (check.healthyThreshold ?? HEALTH_DEFAULTS.healthyThreshold)) {
        h.healthy = true;
        log.info({ service, address }, 'endpoint healthy again');
      }
    } else {
      h.successes = 0;
      h.failures++;
      if (h.healthy && h.failures >= (check.unhealthyThreshold ?? HEALTH_DEFAULTS.unhealthyThreshold)) {
        h.healthy = false;
        log.warn({ service, address }, 'endpoint failed its health checks');
      }
    }
  }
}
