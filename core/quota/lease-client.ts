// The sidecar's side of global quota: lease batches of tokens from quota-svc, spend them locally, refill ahead.
//
// Per (policy, key) a Lease holds tokens of one window of the store's clock, valid until `expiresAt`
// (= the time the request was sent + the store's reset, so never past the real window end). A request spends a
// token synchronously; when the lease runs low a refill is sent ahead; only a request that finds the lease
// empty waits for the refill (the one async path). When the store says the window is exhausted, requests are
// refused locally until it ends — no round trip per refused request. A grant whose window has ended by the time it
// arrives (a round trip longer than what was left of the window) admits the requests waiting for it, one token each,
// as the store counted them in that window; the rest of it is void.
//
// Batch size: min(share, demand), where
//   share  = remaining / (4 × live nodes)  — a node never holds more than its slice of what is left, so batches
//            shrink geometrically as the window runs out; below one token per share nothing is leased ahead and
//            each request asks for its own token (batch 1), so no token is stranded and no node starves;
//   demand = 2 × the requests this node saw per `horizonMs` (capped by the time left in the window) — a quiet
//            node leases little, a busy one doubles per refill (slow start), so unspent leases at the window's end
//            stay small.
// The store never grants more than `limit` per window, so the fleet cannot over-admit; what it may under-admit is
// the unspent tail of the leases when a window ends, bounded by these two caps.
//
// Failure: a call that fails (quota-svc or Redis unreachable, timeout) switches the client to `degraded`:
// leased tokens are still spent, then `failureMode: open` admits on a local bucket of limit ÷ live nodes and
// `closed` refuses with 503. A probe (Check) every `probeIntervalMs` brings it back. State: gauge
// meshgate_quota_fallback, readiness(), and the 'state' event.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { LRUCache } from 'lru-cache';
import { countBound } from '../lru-bound.js';
import type { ResolvedQuotaPolicy } from '../config/compile.js';
import { logger } from '../telemetry/log.js';
import type { client } from '../telemetry/metrics.js';
import { BucketResult, TokenBuckets, bucketPrefix, bucketShape, type BucketShape } from './token-buckets.js';
import { QuotaCallError, type QuotaBackend } from './quota-client.js';
import {
  quotaDecisions,
  quotaFallback,
  quotaGlobalChecks,
  quotaGlobalWaits,
  quotaLeaseSize,
  quotaLeases,
  quotaWaitSeconds,
  trackKeys,
  type CountChild,
  type DecisionOutcome,
} from './quota-metrics.js';

export interface LeaseClientOptions {
  backend: QuotaBackend;
  /** The service this sidecar fronts; `liveNodes(service)` counts its instances. */
  service: string;
  /** Live instances of a service (from the registry); default 1. */
  liveNodes?: (service: string) => number;
  /** Monotonic milliseconds (default performance.now). */
  now?: () => number;
  /** Leases held at once (default 100,000; least recently used dropped). */
  maxKeys?: number;
  /** Deadline of one Acquire (default 250 ms); past it the request gets the failure mode's answer. */
  rpcTimeoutMs?: number;
  /** Probe period while degraded (default 1000 ms). */
  probeIntervalMs?: number;
  /** A lease covers about twice the tokens spent per horizon (default 100 ms). */
  horizonMs?: number;
  /** Largest batch asked for (default 1000). */
  maxBatch?: number;
}

export type LeaseState = 'ok' | 'degraded';

/** The answer for one request. The synchronous path reuses one instance: read it before the next `take`. */
export class QuotaOutcome {
  decision: DecisionOutcome = 'allowed';
  /** Requests left in the window as far as this node knows (store remaining + own unspent lease). */
  remaining = 0;
  /** Milliseconds until the window (or fallback bucket) resets. */
  resetMs = 0;
  /** Milliseconds a refused client should wait. */
  retryAfterMs = 0;
  /** True when the token came from a lease (refundable). */
  leased = false;
  /** The store window (epoch ms on the store's clock) the token belongs to; -1 when not from a lease. */
  windowStartMs = -1;
}

/** A global policy compiled once per chain: ids, shapes and metric children. */
export interface GlobalPolicy {
  readonly id: string;
  readonly limit: number;
  readonly windowMs: number;
  readonly failureMode: 'open' | 'closed';
  /** Prefix of this policy's lease and fallback-bucket keys (short, stable across reloads). */
  readonly prefix: string;
  readonly decisions: Record<DecisionOutcome, CountChild>;
  readonly leasesGranted: client.Counter.Internal;
  readonly leasesExhausted: client.Counter.Internal;
  readonly leasesFailed: client.Counter.Internal;
  readonly leaseSize: client.Histogram.Internal<'policy'>;
  fallbackNodes: number;
  fallbackShape: BucketShape;
}

class Lease {
  tokens = 0;
  /** Local monotonic time the tokens expire (window end, conservatively early). */
  expiresAt = 0;
  /** Window the tokens belong to (store clock, epoch ms). */
  windowStart = -1;
  /** Store's remaining after our last grant; -1 unknown. */
  remaining = -1;
  refill: Promise<void> | undefined = undefined;
  /** Tokens leased from the next window (prefetched shortly before this one ends), promoted when it starts. */
  nextTokens = 0;
  nextStart = -1;
  nextExpiresAt = 0;
  nextRemaining = -1;
  ahead: Promise<void> | undefined = undefined;
  waiting = 0;
  /** Tokens of a grant whose window ended before it arrived, for the requests that were waiting for it. */
  late = 0;
  lateStart = -1;
  /** Requests seen (admitted or refused) since the last lease request, and when that request went out. */
  demand = 0;
  requestedAt = 0;
  lastBatch = 0;
}

const OUTCOMES: DecisionOutcome[] = ['allowed', 'limited', 'fallback_allowed', 'fallback_limited', 'unavailable'];
/** Rounds a waiting request may go through (refill, then others took the tokens first) before it is refused. */
const MAX_WAIT_ROUNDS = 4;

export class LeaseClient extends EventEmitter {
  readonly service: string;
  private readonly backend: QuotaBackend;
  private readonly liveNodes: (service: string) => number;
  private readonly now: () => number;
  private readonly leases: LRUCache<string, Lease>;
  private readonly fallback: TokenBuckets;
  private readonly rpcTimeoutMs: number;
  private readonly probeIntervalMs: number;
  private readonly horizonMs: number;
  private readonly maxBatch: number;
  private readonly log = logger('quota-lease');
  private readonly scratch = new QuotaOutcome();
  private readonly bucket = new BucketResult();
  private readonly checks: CountChild;
  private readonly waitsCounter: CountChild;
  private readonly waitSeconds: client.Histogram.Internal<'service'>;
  private readonly policies = new Map<string, GlobalPolicy>();
  /** Round-trip time of Acquire (EWMA, ms): how early a refill must leave to be back before the lease runs dry. */
  private rttMs = 1;
  private stateValue: LeaseState = 'ok';
  private stateSince = Date.now();
  private lastError = '';
  private probe: NodeJS.Timeout | undefined;
  private closed = false;
  /** Counters for the bench and readiness: checks on the request path, and those that waited. */
  readonly stats = { checks: 0, waits: 0, leaseRequests: 0 };

  constructor(options: LeaseClientOptions) {
    super();
    this.backend = options.backend;
    this.service = options.service;
    this.liveNodes = options.liveNodes ?? (() => 1);
    this.now = options.now ?? (() => performance.now());
    this.leases = new LRUCache<string, Lease>(countBound(options.maxKeys ?? 100_000));
    this.fallback = new TokenBuckets({ maxKeys: options.maxKeys ?? 100_000 });
    this.rpcTimeoutMs = options.rpcTimeoutMs ?? 250;
    this.probeIntervalMs = options.probeIntervalMs ?? 1000;
    this.horizonMs = options.horizonMs ?? 100;
    this.maxBatch = options.maxBatch ?? 1000;
    this.checks = quotaGlobalChecks.labels({ service: this.service });
    this.waitsCounter = quotaGlobalWaits.labels({ service: this.service });
    this.waitSeconds = quotaWaitSeconds.labels({ service: this.service });
    trackKeys(`leases:${this.service}`, this.leases);
    trackKeys(`fallback:${this.service}`, this.fallback);
    quotaFallback.set({ service: this.service }, 0);
    if (this.backend.target === 'none') {
      // No quota-svc: global policies (if any route has one) run on their failure mode; said once in compile().
      this.stateValue = 'degraded';
      this.lastError = 'no quota-svc configured (MESHGATE_QUOTA)';
    }
  }

  get state(): LeaseState {
    return this.stateValue;
  }

  /** Compile a policy once per chain (metric children resolved here, not per request). */
  compile(policy: ResolvedQuotaPolicy): GlobalPolicy {
    const prefix = bucketPrefix(`global:${policy.id}`, policy.limit, policy.windowMs, undefined);
    const cached = this.policies.get(prefix);
    if (cached) return cached;
    if (this.backend.target === 'none' && this.policies.size === 0) {
      quotaFallback.set({ service: this.service }, 1);
      this.log.warn({ policy: policy.id }, 'a route has a global quota policy but no quota-svc is configured (MESHGATE_QUOTA): its failure mode applies');
    }
    const decisions = {} as Record<DecisionOutcome, CountChild>;
    for (const outcome of OUTCOMES) decisions[outcome] = quotaDecisions.labels({ policy: policy.id, scope: 'global', outcome });
    const compiled: GlobalPolicy = {
      id: policy.id,
      limit: policy.limit,
      windowMs: Math.max(1, policy.windowMs),
      failureMode: policy.failureMode ?? 'open',
      prefix,
      decisions,
      leasesGranted: quotaLeases.labels({ policy: policy.id, result: 'granted' }),
      leasesExhausted: quotaLeases.labels({ policy: policy.id, result: 'exhausted' }),
      leasesFailed: quotaLeases.labels({ policy: policy.id, result: 'error' }),
      leaseSize: quotaLeaseSize.labels({ policy: policy.id }),
      fallbackNodes: 0,
      fallbackShape: bucketShape(policy.limit, policy.windowMs, undefined),
    };
    this.policies.set(prefix, compiled);
    return compiled;
  }

  /**
   * One request under `policy` for `key`: synchronous unless the lease is empty and a refill is needed.
   * The synchronous result is a reused object: read it before calling again.
   */
  take(policy: GlobalPolicy, key: string): QuotaOutcome | Promise<QuotaOutcome> {
    this.stats.checks++;
    this.checks.inc();
    const now = this.now();
    const id = policy.prefix + key;
    let lease = this.leases.get(id);
    if (!lease) this.leases.set(id, (lease = new Lease()));
    lease.demand++;
    if (now >= lease.expiresAt && lease.windowStart !== -1) this.expire(lease, policy.windowMs, now);
    if (lease.tokens > 0) return this.spend(policy, key, lease, now, this.scratch);
    if (lease.remaining === 0) return this.exhausted(policy, key, lease, now, this.scratch);
    if (this.stateValue === 'degraded') return this.fallbackDecision(policy, id, now, this.scratch);
    return this.waitForTokens(policy, key, id, lease);
  }

  /**
   * Give back a token taken by `take` (another policy of the route refused the request): to the lease it came from
   * while that window lasts, or to the fallback bucket for a `fallback_allowed` outcome.
   */
  refund(policy: GlobalPolicy, key: string, source: 'lease' | 'fallback' = 'lease'): void {
    if (source === 'fallback') return this.fallback.refund(policy.prefix + key, policy.fallbackShape);
    const lease = this.leases.peek(policy.prefix + key);
    if (lease && this.now() < lease.expiresAt) {
      lease.tokens++;
    }
  }

  readiness(): Record<string, unknown> {
    return {
      state: this.stateValue,
      since: new Date(this.stateSince).toISOString(),
      quotaSvc: this.backend.target,
      ...(this.stateValue === 'degraded' ? { error: this.lastError } : {}),
      leases: this.leases.size,
      waitedFraction: this.stats.checks ? this.stats.waits / this.stats.checks : 0,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.probe) clearInterval(this.probe);
    this.probe = undefined;
    this.backend.close();
  }

  /** The current window ended: the prefetched lease of the window right after takes over, or the lease starts empty. */
  private expire(lease: Lease, windowMs: number, now: number): void {
    if (lease.nextStart === lease.windowStart + windowMs && now < lease.nextExpiresAt) {
      lease.tokens = lease.nextTokens;
      lease.windowStart = lease.nextStart;
      lease.expiresAt = lease.nextExpiresAt;
      lease.remaining = lease.nextRemaining;
      lease.lastBatch = lease.nextTokens;
    } else {
      lease.tokens = 0;
      lease.remaining = -1;
      lease.windowStart = -1;
      lease.lastBatch = 0;
    }
    lease.nextTokens = 0;
    lease.nextStart = -1;
    lease.nextRemaining = -1;
  }

  private spend(policy: GlobalPolicy, key: string, lease: Lease, now: number, out: QuotaOutcome): QuotaOutcome {
    lease.tokens--;
    // Refill ahead while a quarter of the last batch is left, or what two round trips of this key's traffic
    // would spend, whichever is more: the refill is back before the next requests find the lease empty.
    if (lease.refill === undefined && lease.remaining !== 0 && this.stateValue === 'ok') {
      const perMs = lease.demand / Math.max(now - lease.requestedAt, this.rttMs);
      if (lease.tokens <= Math.max(Math.ceil(lease.lastBatch / 4), Math.ceil(perMs * 2 * this.rttMs))) this.startRefill(policy, key, lease, now);
    }
    this.prefetch(policy, key, lease, now);
    policy.decisions.allowed.inc();
    out.decision = 'allowed';
    out.remaining = Math.max(0, lease.remaining) + lease.tokens;
    out.resetMs = lease.expiresAt - now;
    out.retryAfterMs = 0;
    out.leased = true;
    out.windowStartMs = lease.windowStart;
    return out;
  }

  /** A token the store granted a waiting request in a window that ended before the grant arrived: admitted, as counted. */
  private spendLate(policy: GlobalPolicy, lease: Lease, now: number, out: QuotaOutcome): QuotaOutcome {
    lease.late--;
    policy.decisions.allowed.inc();
    out.decision = 'allowed';
    out.remaining = Math.max(0, lease.remaining) + lease.tokens;
    out.resetMs = Math.max(0, lease.expiresAt - now);
    out.retryAfterMs = 0;
    // Its window is over: there is no lease to give it back to.
    out.leased = false;
    out.windowStartMs = lease.lateStart;
    return out;
  }

  private exhausted(policy: GlobalPolicy, key: string, lease: Lease, now: number, out: QuotaOutcome): QuotaOutcome {
    policy.decisions.limited.inc();
    // Refused until the window ends; a key this busy will want tokens the moment the next one starts.
    this.prefetch(policy, key, lease, now);
    out.decision = 'limited';
    out.remaining = 0;
    out.resetMs = lease.expiresAt - now;
    out.retryAfterMs = lease.expiresAt - now;
    out.leased = false;
    out.windowStartMs = lease.windowStart;
    return out;
  }

  private fallbackDecision(policy: GlobalPolicy, id: string, now: number, out: QuotaOutcome): QuotaOutcome {
    out.leased = false;
    out.windowStartMs = -1;
    if (policy.failureMode === 'closed') {
      policy.decisions.unavailable.inc();
      out.decision = 'unavailable';
      out.remaining = 0;
      out.resetMs = this.probeIntervalMs;
      out.retryAfterMs = this.probeIntervalMs;
      return out;
    }
    const nodes = Math.max(1, Math.floor(this.liveNodes(this.service)) || 1);
    if (nodes !== policy.fallbackNodes) {
      policy.fallbackNodes = nodes;
      const share = Math.max(1, Math.floor(policy.limit / nodes));
      policy.fallbackShape = bucketShape(share, policy.windowMs, undefined);
    }
    const r = this.fallback.take(id, policy.fallbackShape, now, this.bucket);
    out.decision = r.allowed ? 'fallback_allowed' : 'fallback_limited';
    policy.decisions[out.decision].inc();
    out.remaining = r.remaining;
    out.resetMs = r.resetMs;
    out.retryAfterMs = r.retryAfterMs;
    return out;
  }

  private async waitForTokens(policy: GlobalPolicy, key: string, id: string, lease: Lease): Promise<QuotaOutcome> {
    this.stats.waits++;
    this.waitsCounter.inc();
    const started = this.now();
    let now = started;
    let next: 'spend' | 'late' | 'exhausted' | 'fallback' = 'exhausted';
    lease.waiting++;
    for (let round = 0; round < MAX_WAIT_ROUNDS; round++) {
      if (lease.refill === undefined) this.startRefill(policy, key, lease, now);
      await lease.refill;
      now = this.now();
      if (lease.late > 0) {
        next = 'late';
        break;
      }
      if (now >= lease.expiresAt && lease.windowStart !== -1) this.expire(lease, policy.windowMs, now);
      if (lease.tokens > 0) {
        next = 'spend';
        break;
      }
      if (lease.remaining === 0) break;
      if (this.stateValue === 'degraded') {
        next = 'fallback';
        break;
      }
      // Tokens arrived but earlier waiters took them all: ask again (bounded by MAX_WAIT_ROUNDS).
    }
    lease.waiting--;
    this.waitSeconds.observe((now - started) / 1000);
    const out = new QuotaOutcome();
    if (next === 'spend') return this.spend(policy, key, lease, now, out);
    if (next === 'late') return this.spendLate(policy, lease, now, out);
    if (next === 'fallback') return this.fallbackDecision(policy, id, now, out);
    return this.exhausted(policy, key, lease, now, out);
  }

  /**
   * Tokens to lease beyond the requests already waiting. 0 when less than 4 × nodes remain: then a lease is only
   * asked for a request that needs it, so no token is stranded on a node that will not spend it.
   */
  private batchSize(policy: GlobalPolicy, lease: Lease, now: number): number {
    const nodes = Math.max(1, Math.floor(this.liveNodes(this.service)) || 1);
    const known = lease.remaining >= 0 && now < lease.expiresAt;
    const remaining = known ? lease.remaining : policy.limit;
    const share = Math.floor(remaining / (4 * nodes));
    if (share < 1) return 0;
    let demand = 1;
    if (lease.requestedAt > 0 && lease.demand > 0) {
      // Requests refused in an exhausted window count too: the next window starts at the rate they came in.
      const elapsed = Math.max(now - lease.requestedAt, this.horizonMs);
      const perHorizon = (lease.demand * this.horizonMs) / elapsed;
      const timeLeft = known ? lease.expiresAt - now : policy.windowMs;
      demand = Math.ceil(2 * perHorizon * Math.min(1, timeLeft / this.horizonMs));
    }
    return Math.max(1, Math.min(share, demand, this.maxBatch));
  }

  private startRefill(policy: GlobalPolicy, key: string, lease: Lease, now: number): void {
    const requested = Math.min(policy.limit, this.batchSize(policy, lease, now) + lease.waiting);
    if (requested < 1) return; // a refill ahead with too little left to share: the next request asks for itself
    lease.demand = 0;
    lease.requestedAt = now;
    lease.refill = this.lease(policy, key, lease, requested, false, now);
  }

  /**
   * Near the end of a window, a key with traffic leases from the next window, so its requests do not wait when the
   * window turns. Sized like a refill for a fresh window (share of the whole limit, this key's demand); skipped
   * when a share is under one token (small limits ask per request, nothing is stranded).
   */
  private prefetch(policy: GlobalPolicy, key: string, lease: Lease, now: number): void {
    if (lease.ahead !== undefined || lease.nextStart !== -1 || lease.windowStart === -1 || this.stateValue !== 'ok') return;
    const lead = Math.min(policy.windowMs / 4, Math.max(this.horizonMs, 4 * this.rttMs));
    const left = lease.expiresAt - now;
    // Too close to the end, the store may already be in the next window and lease the one after: not worth it.
    if (left > lead || left < 2 * this.rttMs + 5) return;
    const nodes = Math.max(1, Math.floor(this.liveNodes(this.service)) || 1);
    const share = Math.floor(policy.limit / (4 * nodes));
    if (share < 1) return;
    const perHorizon = (lease.demand * this.horizonMs) / Math.max(now - lease.requestedAt, this.horizonMs);
    const requested = Math.max(1, Math.min(share, Math.ceil(2 * perHorizon), this.maxBatch));
    lease.ahead = this.lease(policy, key, lease, requested, true, now);
  }

  /** One Acquire; its grant lands in the current window, the next one, or replaces an ended window. */
  private lease(policy: GlobalPolicy, key: string, lease: Lease, requested: number, nextWindow: boolean, sentAt: number): Promise<void> {
    this.stats.leaseRequests++;
    const request = { policy: policy.id, key: wireKey(key), limit: policy.limit, windowMs: policy.windowMs, requested, nextWindow };
    return this.backend.acquire(request, this.rpcTimeoutMs).then(
      (grant) => {
        if (nextWindow) lease.ahead = undefined;
        else lease.refill = undefined;
        const now = this.now();
        this.rttMs = 0.8 * this.rttMs + 0.2 * Math.max(0.05, now - sentAt);
        // Conservative local times: the store answered after `sentAt`, so these are never later than the truth.
        const expiresAt = sentAt + grant.resetMs;
        const startsAt = expiresAt - policy.windowMs;
        if (now >= expiresAt) {
          // Its window ended before it arrived: the requests waiting for a refill get a token each (the store counted
          // them in that window; stored in the lease they expired at once, and every round ended the same way, so a
          // window shorter than a round trip refused every first request). The rest is void.
          if (!nextWindow) {
            lease.late = Math.min(grant.granted, lease.waiting);
            lease.lateStart = grant.windowStartMs;
          }
        } else if (grant.windowStartMs < lease.windowStart) {
          // Answered after its window ended here (the next one was already promoted): those tokens are void.
        } else if (grant.windowStartMs === lease.windowStart) {
          lease.tokens += grant.granted;
          lease.expiresAt = expiresAt;
          lease.remaining = grant.remaining;
          lease.lastBatch = grant.granted;
        } else if (grant.windowStartMs === lease.nextStart) {
          lease.nextTokens += grant.granted;
          lease.nextRemaining = grant.remaining;
        } else if (now < startsAt) {
          // A window that has not started here yet: held until the current one ends, if it is the one right after
          // (tokens of a later window are void here; they only lower what that window admits).
          if (grant.windowStartMs === lease.windowStart + policy.windowMs) {
            lease.nextTokens = grant.granted;
            lease.nextStart = grant.windowStartMs;
            lease.nextExpiresAt = expiresAt;
            lease.nextRemaining = grant.remaining;
          }
        } else {
          // A newer window than the lease's: whatever was left belonged to an ended window.
          lease.tokens = grant.granted;
          lease.windowStart = grant.windowStartMs;
          lease.expiresAt = expiresAt;
          lease.remaining = grant.remaining;
          lease.lastBatch = grant.granted;
          if (lease.nextStart !== -1 && lease.nextStart <= grant.windowStartMs) {
            lease.nextTokens = 0;
            lease.nextStart = -1;
            lease.nextRemaining = -1;
          }
        }
        if (grant.granted > 0) {
          policy.leasesGranted.inc();
          policy.leaseSize.observe(grant.granted);
        } else {
          policy.leasesExhausted.inc();
        }
        if (this.stateValue === 'degraded') this.recover();
      },
      (err: Error) => {
        if (nextWindow) lease.ahead = undefined;
        else lease.refill = undefined;
        if (this.closed) return;
        policy.leasesFailed.inc();
        if (err instanceof QuotaCallError && !err.retryable) {
          this.log.error({ policy: policy.id, err: err.message }, 'quota-svc refused a lease request');
          return;
        }
        this.degrade(err.message, true);
      },
    );
  }

  private degrade(reason: string, probe: boolean): void {
    this.lastError = reason;
    if (this.stateValue === 'degraded') return;
    this.stateValue = 'degraded';
    this.stateSince = Date.now();
    quotaFallback.set({ service: this.service }, 1);
    this.log.warn({ reason, quotaSvc: this.backend.target }, 'global quota degraded: policies run on their failure mode (open: local estimate, closed: 503)');
    this.emit('state', this.stateValue);
    if (probe && !this.probe && !this.closed) {
      // Kept referenced: close() clears it, and a degraded sidecar must keep probing.
      this.probe = setInterval(() => this.runProbe(), this.probeIntervalMs);
    }
  }

  private runProbe(): void {
    this.backend.check(this.rpcTimeoutMs).then(
      () => this.recover(),
      (err: Error) => (this.lastError = err.message),
    );
  }

  private recover(): void {
    if (this.probe) clearInterval(this.probe);
    this.probe = undefined;
    if (this.stateValue === 'ok' || this.closed) return;
    this.stateValue = 'ok';
    this.stateSince = Date.now();
    quotaFallback.set({ service: this.service }, 0);
    this.log.info({ quotaSvc: this.backend.target }, 'global quota recovered');
    this.emit('state', this.stateValue);
  }
}

/** The gRPC contract caps keys at 1024 bytes; key parts are already bounded, this catches multi-byte extremes. */
function wireKey(key: string): string {
  return key.length <= 256 || Buffer.byteLength(key) <= 1024 ? key : 'sha256:' + createHash('sha256').update(key).digest('base64url');
}
