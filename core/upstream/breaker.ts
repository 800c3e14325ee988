// Circuit breaker per upstream service (opossum): when the share of failed requests in the rolling window passes
// the threshold (with enough volume), the breaker opens and requests are answered 503 `breaker_open` at once; after
// the reset timeout one probe goes through (half-open) and its outcome closes or re-opens it.
import { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import { MeshError } from '../errors.js';
import { parseDuration } from '../config/duration.js';
import type { ServiceConfig } from '../config/schema.js';
import type { Exchange } from '../pipeline/exchange.js';
import { logger } from '../telemetry/log.js';
import { client } from '../telemetry/metrics.js';
import { UpstreamFailure, spentCallersBudget, type Layer, type Upstream, type UpstreamResponse } from './upstream.js';

export const BREAKER_DEFAULTS = { errorThresholdPercentage: 50, volumeThreshold: 20, resetTimeoutMs: 10_000, rollingWindowMs: 10_000 };

export type BreakerState = 'closed' | 'open' | 'half-open';
const STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

const stateGauge = new client.Gauge({
  name: 'meshgate_breaker_state',
  help: 'Circuit breaker state per upstream service: 0 closed, 1 half-open, 2 open.',
  labelNames: ['tier', 'service'] as const,
  aggregator: 'max', // --workers: the node's state is its worst worker's (one open is open), never a sum
});

const log = logger('breaker');

/** A 5xx answer is a failure for the breaker, but the client still gets that answer (not a mesh error). */
class FailedAnswer {
  constructor(readonly response: UpstreamResponse) {}
}

type Action = (x: Exchange, next: Upstream) => Promise<UpstreamResponse>;

const action: Action = async (x, next) => {
  const response = await next(x);
  if (response.status >= 500) throw new FailedAnswer(response);
  return response;
};

/**
 * Mesh refusals that say nothing about the upstream's health (pool full, no endpoint) do not count, nor does a try
 * that ran out of the caller's own budget.
 */
const notAFailure = (err: unknown, ...fired: unknown[]): boolean => {
  if (err instanceof MeshError && !(err instanceof UpstreamFailure)) return true;
  // opossum calls the filter with the error, then fire()'s arguments: [exchange, next].
  const x = fired[0] as Exchange;
  return spentCallersBudget(x, err, err instanceof FailedAnswer ? err.response.status : undefined);
};

type CircuitBreakerConfig = ServiceConfig['circuitBreaker'];

/** Buckets of opossum's rolling window. */
const BUCKETS = 10;

interface Entry {
  config: CircuitBreakerConfig;
  key: string;
  breaker: CircuitBreaker<[Exchange, Upstream], UpstreamResponse>;
}

export class BreakerSet {
  private readonly entries = new Map<string, Entry>();

  constructor(readonly tier: string) {}

  for(service: string, config: CircuitBreakerConfig): CircuitBreaker<[Exchange, Upstream], UpstreamResponse> {
    const entry = this.entries.get(service);
    if (entry && entry.config === config) return entry.breaker;
    const options = {
      errorThresholdPercentage: config?.errorThresholdPercentage ?? BREAKER_DEFAULTS.errorThresholdPercentage,
      volumeThreshold: config?.volumeThreshold ?? BREAKER_DEFAULTS.volumeThreshold,
      resetTimeout: config?.resetTimeout ? parseDuration(config.resetTimeout) : BREAKER_DEFAULTS.resetTimeoutMs,
      rollingCountTimeout: config?.rollingWindow ? parseDuration(config.rollingWindow) : BREAKER_DEFAULTS.rollingWindowMs,
    };
    const key = JSON.stringify(options);
    if (entry && entry.key === key) {
      entry.config = config;
      return entry.breaker;
    }
    // A changed config starts a fresh breaker (closed); the old one finishes its in-flight calls.
    entry?.breaker.shutdown();
    // The rolling window's buckets turn on our clock (opossum's rotateBucketController) so that closing can empty
    // the window. opossum's error rate is failures / fires, and the calls it refused while open count as fires: left
    // in the window after a good probe closed the breaker, they hid a relapse (45 failing calls reached the service
    // before it reopened). Hystrix and resilience4j also start afresh on closing.
    const buckets = new EventEmitter();
    const rotate = setInterval(() => buckets.emit('rotate'), Math.floor(options.rollingCountTimeout / BUCKETS));
    rotate.unref();
    const breaker = new CircuitBreaker<[Exchange, Upstream], UpstreamResponse>(action, {
      ...options,
      rollingCountBuckets: BUCKETS,
      rotateBucketController: buckets,
      // Neither opossum's latency percentiles nor its 'snapshot' events are read here (meshgate's own histograms
      // time requests). Left on, opossum keeps every call's latency for the window and, to report them, sorts them
      // all (up to ~10 s × req/s) once per bucket and on every failure.
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      timeout: false, // the deadline layer bounds each try
      errorFilter: notAFailure,
      name: service,
    });
    const report = (state: BreakerState) => () => {
      stateGauge.labels(this.tier, service).set(STATE_VALUE[state]);
      log[state === 'open' ? 'warn' : 'info']({ tier: this.tier, service, state }, `breaker ${state}`);
    };
    breaker.on('open', report('open'));
    breaker.on('halfOpen', report('half-open'));
    breaker.on('close', report('closed'));
    breaker.on('close', () => {
      for (let i = 0; i < BUCKETS; i++) buckets.emit('rotate');
    });
    breaker.on('shutdown', () => clearInterval(rotate));
    stateGauge.labels(this.tier, service).set(0);
    this.entries.set(service, { config, key, breaker });
    return breaker;
  }

  state(service: string): BreakerState | undefined {
    const b = this.entries.get(service)?.breaker;
    return b ? stateOf(b) : undefined;
  }

  /** For /config detail. */
  states(): Record<string, BreakerState> {
    const out: Record<string, BreakerState> = {};
    for (const [service, { breaker }] of this.entries) out[service] = stateOf(breaker);
    return out;
  }

  shutdown(): void {
    for (const { breaker } of this.entries.values()) breaker.shutdown();
    this.entries.clear();
  }
}

function stateOf(b: CircuitBreaker<never[], unknown> | CircuitBreaker<[Exchange, Upstream], UpstreamResponse>): BreakerState {
  return b.opened ? 'open' : b.halfOpen ? 'half-open' : 'closed';
}

export function circuitBreaker(breakers: BreakerSet): Layer {
  return (next) => (x) =>
    breakers
      .for(x.service, x.snapshot?.services.get(x.service)?.circuitBreaker)
      .fire(x, next)
      .catch((err: unknown) => {
        if (err instanceof FailedAnswer) return err.response;
        if ((err as { code?: string })?.code === 'EOPENBREAKER')
          throw new MeshError('breaker_open', `The circuit breaker for "${x.service}" is open.`);
        throw err;
      });
}
