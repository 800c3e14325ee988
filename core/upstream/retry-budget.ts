// Retry budget per upstream service (Finagle/Linkerd style): retries may add at most `percent`% of the
// requests seen in a sliding window, plus a small floor per second, so an outage cannot multiply load.
import { client } from '../telemetry/metrics.js';

export interface RetryBudgetOptions {
  /** Retries allowed as a share of requests (0–100). */
  percent: number;
  /** Retries allowed per second regardless of traffic (so a quiet service can still retry). */
  minRetriesPerSecond: number;
  /** Sliding window length. */
  windowMs: number;
}

export const DEFAULT_RETRY_BUDGET: RetryBudgetOptions = { percent: 20, minRetriesPerSecond: 3, windowMs: 10_000 };

const BUCKETS = 10;

const exhausted = new client.Counter({
  name: 'meshgate_retry_budget_exhausted_total',
  help: 'Retries not made because the upstream service retry budget was spent.',
  labelNames: ['tier', 'service'] as const,
});

/** One service's budget: requests and retries counted in BUCKETS time slices of a sliding window. */
export class RetryBudget {
  private readonly requests = new Float64Array(BUCKETS);
  private readonly retries = new Float64Array(BUCKETS);
  private readonly sliceMs: number;
  private slice = -1;

  constructor(
    readonly options: RetryBudgetOptions,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.sliceMs = options.windowMs / BUCKETS;
  }

  /** Count a first try. */
  deposit(): void {
    this.requests[this.rotate()]++;
  }

  /** Take one retry from the budget; false when spent. */
  withdraw(): boolean {
    const i = this.rotate();
    let requests = 0;
    let retries = 0;
    for (let b = 0; b < BUCKETS; b++) {
      requests += this.requests[b];
      retries += this.retries[b];
    }
    const allowed = (requests * this.options.percent) / 100 + (this.options.minRetriesPerSecond * this.options.windowMs) / 1000;
    if (retries + 1 > allowed) return false;
    this.retries[i]++;
    return true;
  }

  private rotate(): number {
    const slice = Math.floor(this.now() / this.sliceMs);
    if (this.slice === -1) this.slice = slice;
    // Clear the buckets of the slices that passed since the last call (at most a whole window).
    for (let s = this.slice + 1; s <= slice && s <= this.slice + BUCKETS; s++) {
      this.requests[s % BUCKETS] = 0;
      this.retries[s % BUCKETS] = 0;
    }
    if (slice > this.slice) this.slice = slice;
    return slice % BUCKETS;
  }
}

/** The budgets of every upstream service of one tier, rebuilt when a service's budget config changes. */
export class RetryBudgets {
  private readonly budgets = new Map<string, { config: object | undefined; key: string; budget: RetryBudget }>();

  constructor(
    readonly tier: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  for(service: string, config: { percent: number; minRetriesPerSecond?: number } | undefined): RetryBudget {
    const entry = this.budgets.get(service);
    // Same config object as last time (same snapshot): the hot path allocates nothing.
    if (entry && entry.config === config) return entry.budget;
    const percent = config?.percent ?? DEFAULT_RETRY_BUDGET.percent;
    const floor = config?.minRetriesPerSecond ?? DEFAULT_RETRY_BUDGET.minRetriesPerSecond;
    const key = `${percent}/${floor}`;
    if (entry && entry.key === key) {
      entry.config = config;
      return entry.budget;
    }
    const budget = new RetryBudget({ percent, minRetriesPerSecond: floor, windowMs: DEFAULT_RETRY_BUDGET.windowMs }, this.now);
    this.budgets.set(service, { config, key, budget });
    return budget;
  }

  exhausted(service: string): void {
    exhausted.labels(this.tier, service).inc();
  }
}
