// Endpoint choice for a service: power-of-two-choices on outstanding requests weighted by EWMA latency
// (Finagle/Linkerd's P2C-EWMA), or round robin when the service says `loadBalancer: round-robin`.
// Ejected (outlier) and failing (health check) endpoints are skipped; a retry avoids the endpoint just tried.
import { MeshError } from '../errors.js';
import type { EndpointSource } from './endpoints.js';
import { endpointsOf } from './endpoints.js';
import type { Layer } from './upstream.js';

/** Anything that can rule an endpoint out for now (outlier ejection, failed active health checks). */
export interface EndpointFilter {
  excluded(address: string): boolean;
}

export interface BalanceOptions {
  endpoints: EndpointSource;
  filters?: EndpointFilter[];
  random?: () => number;
  now?: () => number;
  /** EWMA decay time constant (ms). */
  decayMs?: number;
}

/**
 * What P2C weighs: requests in flight and a latency cost, Finagle's and Linkerd's Peak-EWMA. A reading above the
 * cost replaces it at once (a slow endpoint is avoided from its first slow answer); otherwise readings move the
 * cost as a moving average weighted by the time between them. The cost decays toward zero with the time since
 * it was last updated, and it is decayed whenever it is read: an endpoint that is not picked does not keep a
 * slow reading forever, it is tried again once its decayed cost is below its peers' (it used to decay only in
 * `observe()`, so one slow spell could starve an endpoint of all traffic).
 */
export class EndpointLoad {
  outstanding = 0;
  /** The cost as of `stampedAt`. */
  costMs: number;
  private stampedAt: number;

  constructor(
    now: number,
    initialMs: number,
    private readonly decayMs: number,
  ) {
    this.costMs = initialMs;
    this.stampedAt = now;
  }

  observe(rttMs: number, now: number): void {
    const w = Math.exp(-Math.max(0, now - this.stampedAt) / this.decayMs);
    this.costMs = rttMs > this.costMs ? rttMs : this.costMs * w + rttMs * (1 - w);
    this.stampedAt = now;
  }

  /**
   * Lower is better: the expected wait if we add one more request. Decays the cost to `now` first (nothing
   * allocated). The cost has a floor so that requests in flight still count once it has decayed to (almost)
   * nothing (Finagle adds a penalty for the same case).
   */
  score(now: number): number {
    this.observe(0, now);
    return (this.outstanding + 1) * Math.max(this.costMs, MIN_COST_MS);
  }
}

/** 1 µs: below any real round trip, so it only orders endpoints whose cost has decayed away. */
const MIN_COST_MS = 0.001;

const INITIAL_EWMA_MS = 1;

export function balance(o: BalanceOptions): Layer {
  const random = o.random ?? Math.random;
  const now = o.now ?? (() => performance.now());
  const decayMs = o.decayMs ?? 10_000;
  const filters = o.filters ?? [];
  const loads = new Map<string, EndpointLoad>();
  const cursors = new Map<string, number>();
  const scratch: string[] = [];

  const loadOf = (address: string): EndpointLoad => {
    let load = loads.get(address);
    if (!load) loads.set(address, (load = new EndpointLoad(now(), INITIAL_EWMA_MS, decayMs)));
    return load;
  };
  const usable = (address: string): boolean => {
    for (const f of filters) if (f.excluded(address)) return false;
    return true;
  };

  /** The candidates: usable ones, minus the one just tried (on a retry); never empty when the list is not. */
  const candidates = (list: readonly string[], avoid: string): readonly string[] => {
    scratch.length = 0;
    for (const a of list) if (a !== avoid && usable(a)) scratch.push(a);
    if (scratch.length === list.length) return list;
    if (scratch.length) return scratch;
    for (const a of list) if (usable(a)) scratch.push(a);
    // Every endpoint ruled out: try them all rather than none (Envoy's panic mode).
    return scratch.length ? scratch : list;
  };

  const pickP2C = (list: readonly string[]): string => {
    if (list.length === 1) return list[0];
    const i = Math.floor(random() * list.length);
    let j = Math.floor(random() * (list.length - 1));
    if (j >= i) j++;
    const t = now();
    return loadOf(list[i]).score(t) <= loadOf(list[j]).score(t) ? list[i] : list[j];
  };

  const pickRoundRobin = (service: string, list: readonly string[]): string => {
    const i = (cursors.get(service) ?? 0) % list.length;
    cursors.set(service, i + 1);
    return list[i];
  };

  return (next) => (x) => {
    const list = endpointsOf(x.snapshot, o.endpoints, x.service);
    if (list.length === 0) return Promise.reject(new MeshError('no_endpoint', `No endpoint serves "${x.service}".`));
    const pool = candidates(list, x.attempts > 0 ? x.upstreamAddress : '');
    const roundRobin = x.snapshot?.services.get(x.service)?.loadBalancer === 'round-robin';
    const address = roundRobin ? pickRoundRobin(x.service, pool) : pickP2C(pool);
    x.upstreamAddress = address;
    x.attempts++;
    const load = loadOf(address);
    load.outstanding++;
    const started = now();
    return next(x).finally(() => {
      load.outstanding--;
      const t = now();
      load.observe(t - started, t);
    });
  };
}
