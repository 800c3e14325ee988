// Stage quota-global (quota): the route's `scope: global` policies, spent from tokens leased from quota-svc.
// Synchronous while the local lease has tokens (or the window is known exhausted); awaits only an empty lease's
// refill. quota-svc or Redis down: `failureMode: open` admits on a local estimate, `closed` answers 503.
// A refusal (429 or 503) gives back what the request took: the route's local tokens (quota-local runs first and
// spends at once) and the tokens of global policies taken before the one that refused.
import { MeshError } from '../../core/errors.js';
import type { Exchange } from '../../core/pipeline/exchange.js';
import type { StageDef, Verdict } from '../../core/pipeline/stage.js';
import { compileGlobalKey, type KeyBuilder } from '../../core/quota/quota-key.js';
import type { GlobalPolicy, LeaseClient, QuotaOutcome } from '../../core/quota/lease-client.js';
import { localPolicies, type LocalPolicies } from '../../core/quota/local-policies.js';
import { ceilSeconds, headerPolicy, policyHeaderValue, rateLimited, setRateLimitHeaders, type HeaderPolicy } from '../../core/quota/rate-limit-headers.js';
import type { QuotaDeps } from '../../core/quota/quota-runtime.js';

export type { QuotaDeps } from '../../core/quota/quota-runtime.js';

function unavailable(outcome: QuotaOutcome): MeshError {
  return new MeshError('quota_unavailable', undefined, { 'retry-after': String(Math.max(1, ceilSeconds(outcome.retryAfterMs))) });
}

/**
 * One policy's outcome → the verdict; admitted outcomes set headers (the strictest across stages wins). A refusal
 * gives the route's local tokens back (`local`: undefined when the route has no local policy).
 */
function settle(x: Exchange, name: HeaderPolicy, policyHeader: string, outcome: QuotaOutcome, local: LocalPolicies | undefined): Verdict {
  switch (outcome.decision) {
    case 'allowed':
    case 'fallback_allowed':
      setRateLimitHeaders(x, name, outcome.remaining, outcome.resetMs, policyHeader);
      return undefined;
    case 'unavailable':
      local?.refund(x);
      return unavailable(outcome);
    default:
      local?.refund(x);
      return rateLimited(x, name, outcome.retryAfterMs, outcome.resetMs, policyHeader);
  }
}

/** Per-request record of the policies already passed (only routes with several global policies allocate it). */
interface Taken {
  keys: string[];
  remaining: number[];
  resetMs: number[];
  /** Where policy i's token came from: a lease, the fallback bucket, or nowhere yet. */
  source: ('lease' | 'fallback' | undefined)[];
}

/** Several global policies: taken in order; a refusal gives back the tokens already taken for this request. */
class MultiPolicy {
  constructor(
    private readonly leases: LeaseClient,
    private readonly policies: GlobalPolicy[],
    private readonly keyOf: KeyBuilder[],
    private readonly names: HeaderPolicy[],
    private readonly policyHeader: string,
    private readonly local: LocalPolicies | undefined,
  ) {}

  request(x: Exchange): Verdict | Promise<Verdict> {
    const n = this.policies.length;
    const taken: Taken = { keys: this.keyOf.map((key) => key(x)), remaining: new Array(n), resetMs: new Array(n), source: new Array(n).fill(undefined) };
    return this.from(x, taken, 0);
  }

  private from(x: Exchange, taken: Taken, start: number): Verdict | Promise<Verdict> {
    for (let i = start; i < this.policies.length; i++) {
      const outcome = this.leases.take(this.policies[i], taken.keys[i]);
      if (outcome instanceof Promise) return outcome.then((o) => this.step(x, taken, i, o) ?? this.from(x, taken, i + 1));
      const refused = this.step(x, taken, i, outcome);
      if (refused) return refused;
    }
    let pick = 0;
    for (let i = 1; i < this.policies.length; i++) if (taken.remaining[i] < taken.remaining[pick]) pick = i;
    setRateLimitHeaders(x, this.names[pick], taken.remaining[pick], taken.resetMs[pick], this.policyHeader);
    return undefined;
  }

  /** Record policy i's outcome; on refusal give back the earlier tokens and return the verdict. */
  private step(x: Exchange, taken: Taken, i: number, outcome: QuotaOutcome): Verdict | undefined {
    if (outcome.decision === 'allowed' || outcome.decision === 'fallback_allowed') {
      taken.remaining[i] = outcome.remaining;
      taken.resetMs[i] = outcome.resetMs;
      taken.source[i] = outcome.decision === 'fallback_allowed' ? 'fallback' : outcome.leased ? 'lease' : undefined;
      return undefined;
    }
    const verdict = settle(x, this.names[i], this.policyHeader, outcome, this.local);
    for (let j = 0; j < i; j++) {
      const source = taken.source[j];
      if (source) this.leases.refund(this.policies[j], taken.keys[j], source);
    }
    return verdict;
  }
}

export const quotaGlobal: StageDef<QuotaDeps> = {
  name: 'quota-global',
  phase: 'quota',
  build({ route, deps }) {
    const configured = route?.quota.filter((p) => p.scope === 'global') ?? [];
    if (!route || configured.length === 0) return undefined;
    const leases = deps.quota.leases;
    const policies = configured.map((p) => leases.compile(p));
    const keyOf = configured.map((p) => compileGlobalKey(p, route.name));
    const names = configured.map(headerPolicy);
    const policyHeader = policyHeaderValue(route.quota);
    const local = localPolicies(route, deps.quota.buckets);

    if (policies.length === 1) {
      const [policy] = policies;
      const [key] = keyOf;
      const [name] = names;
      return {
        name: 'quota-global',
        request(x) {
          const outcome = leases.take(policy, key(x));
          // Only an empty lease makes a promise; a request with tokens at hand stays synchronous.
          if (outcome instanceof Promise) return outcome.then((o) => settle(x, name, policyHeader, o, local));
          return settle(x, name, policyHeader, outcome, local);
        },
      };
    }

    const multi = new MultiPolicy(leases, policies, keyOf, names, policyHeader, local);
    return { name: 'quota-global', request: (x) => multi.request(x) };
  },
};
