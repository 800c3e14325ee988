// Outlier ejection per endpoint (Envoy's consecutive_5xx): after N consecutive failed tries (errors or 5xx) an
// endpoint is left out of balancing for base × times-ejected (capped), never more than maxEjectionPercent of a
// service's endpoints at once (though always one of two or more), and returns by itself when the interval ends.
import { parseDuration } from '../config/duration.js';
import type { ServiceConfig } from '../config/schema.js';
import { logger } from '../telemetry/log.js';
import { client } from '../telemetry/metrics.js';
import type { EndpointFilter } from './balance.js';
import { endpointsOf, type EndpointSource } from './endpoints.js';
import { UpstreamFailure, spentCallersBudget, type Layer } from './upstream.js';

export const OUTLIER_DEFAULTS = { consecutiveErrors: 5, baseEjectionMs: 30_000, maxEjectionPercent: 10, maxEjectionMs: 300_000 };

const ejections = new client.Counter({
  name: 'meshgate_outlier_ejections_total',
  help: 'Endpoints ejected from load balancing after consecutive failures.',
  labelNames: ['tier', 'service'] as const,
});

const log = logger('outlier');

interface EndpointRecord {
  consecutive: number;
  times: number;
  ejectedUntil: number;
}

export class OutlierDetector implements EndpointFilter {
  private readonly records = new Map<string, EndpointRecord>();

  constructor(
    readonly tier: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  excluded(address: string): boolean {
    const r = this.records.get(address);
    if (!r || r.ejectedUntil === 0) return false;
    if (this.now() < r.ejectedUntil) return true;
    r.ejectedUntil = 0;
    r.consecutive = 0;
    log.info({ tier: this.tier, address }, 'endpoint returned from ejection');
    return false;
  }

  success(address: string): void {
    const r = this.records.get(address);
    if (r) r.consecutive = 0;
  }

  /** One failed try on `address`; `endpoints` are the service's current endpoints (for the ejection cap). */
  failure(service: string, address: string, endpoints: readonly string[], config: ServiceConfig['outlierDetection']): void {
    let r = this.records.get(address);
    if (!r) this.records.set(address, (r = { consecutive: 0, times: 0, ejectedUntil: 0 }));
    if (this.excluded(address)) return; // already out (a try that was in flight when it was ejected)
    r.consecutive++;
    if (r.consecutive < (config?.consecutiveErrors ?? OUTLIER_DEFAULTS.consecutiveErrors)) return;
    if (endpoints.length < 2) return; // never eject the last endpoint
    let ejected = 0;
    for (const a of endpoints) if (a !== address && this.excluded(a)) ejected++;
    const maxPercent = config?.maxEjectionPercent ?? OUTLIER_DEFAULTS.maxEjectionPercent;
    const cap = Math.max(1, Math.floor((endpoints.length * maxPercent) / 100));
    if (ejected + 1 > cap || ejected + 1 >= endpoints.length) return;
    const base = config?.baseEjectionTime ? parseDuration(config.baseEjectionTime) : OUTLIER_DEFAULTS.baseEjectionMs;
    r.times++;
    const forMs = Math.min(base * r.times, Math.max(base, OUTLIER_DEFAULTS.maxEjectionMs));
    r.ejectedUntil = this.now() + forMs;
    r.consecutive = 0;
    ejections.labels(this.tier, service).inc();
    log.warn({ tier: this.tier, service, address, forMs, times: r.times }, 'endpoint ejected after consecutive failures');
  }
}

/** Record every try's outcome against the endpoint that served it. */
export function outlierDetection(detector: OutlierDetector, discovered: EndpointSource): Layer {
  return (next) => (x) => {
    const address = x.upstreamAddress;
    const failed = () => {
      const config = x.snapshot?.services.get(x.service)?.outlierDetection;
      detector.failure(x.service, address, endpointsOf(x.snapshot, discovered, x.service), config);
    };
    return next(x).then(
      (response) => {
        if (response.status < 500) detector.success(address);
        else if (!spentCallersBudget(x, undefined, response.status)) failed();
        return response;
      },
      (err: unknown) => {
        if (err instanceof UpstreamFailure && !spentCallersBudget(x, err)) failed();
        throw err;
      },
    );
  };
}
