// prom-client metrics shared by every tier: request counters and latency histograms, children cached per route.
import client from 'prom-client';
import { droppedLogLines } from './log.js';

export const registry = client.register;
client.collectDefaultMetrics({ register: registry });

/** Buckets from 50 µs: the whole mesh budget is about a millisecond, the default buckets start at 5 ms. */
export const LATENCY_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * A counter child the request path bumps as a plain number (a labelled prom-client inc() hashes its labels on
 * every call, ~0.5 µs); the pending count is added to the prom-client counter when it is collected (scraped).
 */
export class CountChild {
  n = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
  inc(): void {
    this.n++;
  }
}

export function batchedCounter<L extends string>(name: string, help: string, labelNames: readonly L[]) {
  const children = new Map<string, CountChild>();
  const metric = new client.Counter<L>({
    name,
    help,
    labelNames,
    collect() {
      for (const child of children.values()) {
        if (child.n === 0) continue;
        this.inc(child.labels as Partial<Record<L, string>>, child.n);
        child.n = 0;
      }
    },
  });
  return {
    metric,
    /** The child for these labels, created once (call at build time, not per request). */
    labels(labels: Record<L, string>): CountChild {
      const key = labelNames.map((l) => labels[l]).join('\u0000');
      let child = children.get(key);
      if (!child) children.set(key, (child = new CountChild(labels)));
      return child;
    },
  };
}

export const requestsTotal = batchedCounter(
  'meshgate_requests_total',
  'Requests handled, by tier, route, service and status class.',
  ['tier', 'route', 'service', 'status_class'] as const,
);

/** One label set of a BatchedHistogram: plain counters the request path bumps. */
export class HistogramChild {
  /** Observations per bucket (not cumulative); the last slot is above the highest bound (+Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

/**
 * A histogram whose children are plain counters. A labelled prom-client Histogram hashes and validates its labels
 * on every observe(), child or not (~1.6 µs; prom-client issue #38, open since 2016). This one is registered in
 * the same registry and reports the same series in prom-client's own value format (`get()`), so exposition and
 * the cluster aggregation of `--workers` are prom-client's.
 */
export class BatchedHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly children = new Map<string, HistogramChild>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    private readonly bounds: readonly number[],
    register: client.Registry,
  ) {
    register.registerMetric(this as unknown as client.Metric);
  }

  /** The child for these labels, created once (call at build time, not per request). */
  labels(labels: Record<L, string>): HistogramChild {
    const key = this.labelNames.map((l) => labels[l]).join('\u0000');
    let child = this.children.get(key);
    if (!child) this.children.set(key, (child = new HistogramChild({ ...labels }, this.bounds)));
    return child;
  }

  async get() {
    const values: { value: number; labels: Record<string, string | number>; metricName: string }[] = [];
    for (const child of this.children.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += child.counts[i];
        values.push({ value: cumulative, labels: { ...child.labels, le }, metricName: `${this.name}_bucket` });
      });
      values.push({ value: child.count, labels: { ...child.labels, le: '+Inf' }, metricName: `${this.name}_bucket` });
      values.push({ value: child.sum, labels: { ...child.labels }, metricName: `${this.name}_sum` });
      values.push({ value: child.count, labels: { ...child.labels }, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** Zero every series (the children stay: the request path holds them). */
  reset(): void {
    for (const child of this.children.values()) {
      child.counts.fill(0);
      child.sum = 0;
      child.count = 0;
    }
  }
}

export const requestDuration = new BatchedHistogram(
  'meshgate_request_duration_seconds',
  'Time from request received to response finished, by tier, route, service and status class.',
  ['tier', 'route', 'service', 'status_class'] as const,
  LATENCY_BUCKETS,
  registry,
);

export const logLinesDropped = new client.Counter({
  name: 'meshgate_log_lines_dropped_total',
  help: 'Log lines (access log included) dropped because stdout fell more than 8 MiB behind.',
  collect() {
    // The logger keeps the count since start; the counter shows it as it is.
    this.reset();
    this.inc(droppedLogLines());
  },
});

export const internalErrors = new client.Counter({
  name: 'meshgate_internal_errors_total',
  help: 'Unexpected exceptions rescued at a listener.',
  labelNames: ['tier'] as const,
});

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** STATUS_CLASSES index of a status (below 100 counts as 1xx, above 599 as 5xx). */
function classIndex(status: number): number {
  return Math.min(Math.max(Math.floor(status / 100) - 1, 0), 4);
}

/** Per-route metric children resolved once, so the hot path does no label-string building. */
export class RouteMetrics {
  private readonly counters: CountChild[];
  /** By status class, each made at its first request (a route that never fails shows no 5xx latency series). */
  private readonly histograms: (HistogramChild | undefined)[] = [];

  constructor(
    private readonly tier: string,
    private readonly route: string,
    private readonly service: string,
  ) {
    this.counters = STATUS_CLASSES.map((status_class) => requestsTotal.labels({ tier, route, service, status_class }));
  }

  /** A request refused before it could be timed (node's parser refused its head): counted, no duration. */
  refused(status: number): void {
    this.counters[classIndex(status)].inc();
  }

  observe(status: number, seconds: number): void {
    const index = classIndex(status);
    this.counters[index].inc();
    const histogram = (this.histograms[index] ??= requestDuration.labels({ tier: this.tier, route: this.route, service: this.service, status_class: STATUS_CLASSES[index] }));
    histogram.observe(seconds);
  }
}

const routeMetricsCache = new Map<string, RouteMetrics>();

export function routeMetrics(tier: string, route: string, service: string): RouteMetrics {
  const key = `${tier}\0${route}\0${service}`;
  let metrics = routeMetricsCache.get(key);
  if (!metrics) routeMetricsCache.set(key, (metrics = new RouteMetrics(tier, route, service)));
  return metrics;
}

export { client };
