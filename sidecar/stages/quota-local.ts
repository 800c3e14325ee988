// Stage quota-local (quota): the route's `scope: local` policies as in-process token buckets; synchronous, no I/O.
// Several policies: each is checked first and tokens are spent only when all admit; the strictest decides and
// its headers are the ones sent (RateLimit-* and the IETF draft's RateLimit / RateLimit-Policy; Retry-After on 429).
// Tokens are spent here at once; when a global policy (quota-global, after this stage) refuses, it gives them back.
import type { StageDef, Verdict } from '../../core/pipeline/stage.js';
import type { Exchange } from '../../core/pipeline/exchange.js';
import { BucketResult } from '../../core/quota/token-buckets.js';
import { localPolicies } from '../../core/quota/local-policies.js';
import { headerPolicy, policyHeaderValue, rateLimited, setRateLimitHeaders } from '../../core/quota/rate-limit-headers.js';
import { quotaDecisions } from '../../core/quota/quota-metrics.js';
import type { QuotaDeps } from '../../core/quota/quota-runtime.js';

export type { QuotaDeps } from '../../core/quota/quota-runtime.js';

/** Index of the result that should speak for the route: the longest wait among refusals, else the fewest left. */
function strictest(results: readonly BucketResult[], count: number): number {
  let pick = 0;
  for (let i = 1; i < count; i++) {
    const a = results[i];
    const b = results[pick];
    if (a.allowed !== b.allowed) {
      if (!a.allowed) pick = i;
    } else if (!a.allowed) {
      if (a.retryAfterMs > b.retryAfterMs) pick = i;
    } else if (a.remaining < b.remaining || (a.remaining === b.remaining && a.resetMs > b.resetMs)) {
      pick = i;
    }
  }
  return pick;
}

export const quotaLocal: StageDef<QuotaDeps> = {
  name: 'quota-local',
  phase: 'quota',
  build({ route, deps }) {
    const { buckets } = deps.quota;
    const local = route && localPolicies(route, buckets);
    if (!route || !local) return undefined;
    const { policies, shapes, keyOf } = local;
    const clock = deps.quota.now;
    const count = policies.length;
    const names = policies.map(headerPolicy);
    const policyHeader = policyHeaderValue(route.quota);
    const allowed = policies.map((p) => quotaDecisions.labels({ policy: p.id, scope: 'local', outcome: 'allowed' }));
    const limited = policies.map((p) => quotaDecisions.labels({ policy: p.id, scope: 'local', outcome: 'limited' }));
    // Scratch reused by every request of this chain: the stage is synchronous, so no two requests interleave.
    const results = policies.map(() => new BucketResult());
    const keys: string[] = policies.map(() => '');

    function refuse(x: Exchange, i: number): Verdict {
      const r = results[i];
      return rateLimited(x, names[i], r.retryAfterMs, r.resetMs, policyHeader);
    }

    if (count === 1) {
      const shape = shapes[0];
      const key = keyOf[0];
      const result = results[0];
      return {
        name: 'quota-local',
        request(x) {
          const r = buckets.take(key(x), shape, clock(), result);
          if (!r.allowed) {
            limited[0].inc();
            return refuse(x, 0);
          }
          allowed[0].inc();
          setRateLimitHeaders(x, names[0], r.remaining, r.resetMs, policyHeader);
          return undefined;
        },
      };
    }

    return {
      name: 'quota-local',
      request(x) {
        const now = clock();
        let admitted = true;
        for (let i = 0; i < count; i++) {
          keys[i] = keyOf[i](x);
          if (!buckets.check(keys[i], shapes[i], now, results[i]).allowed) admitted = false;
        }
        const pick = strictest(results, count);
        if (!admitted) {
          for (let i = 0; i < count; i++) if (!results[i].allowed) limited[i].inc();
          return refuse(x, pick);
        }
        for (let i = 0; i < count; i++) {
          buckets.commit(keys[i], results[i]);
          allowed[i].inc();
        }
        setRateLimitHeaders(x, names[pick], results[pick].remaining, results[pick].resetMs, policyHeader);
        return undefined;
      },
    };
  },
};
