// A route's `scope: local` policies compiled once per chain: the bucket shapes and keys quota-local charges, and the
// give-back quota-global uses when one of its policies refuses a request quota-local already charged.
import type { CompiledRoute, ResolvedQuotaPolicy } from '../config/compile.js';
import type { Exchange } from '../pipeline/exchange.js';
import { compileKey, type KeyBuilder } from './quota-key.js';
import { bucketPrefix, bucketShape, type BucketShape, type TokenBuckets } from './token-buckets.js';

export class LocalPolicies {
  readonly policies: readonly ResolvedQuotaPolicy[];
  readonly shapes: readonly BucketShape[];
  readonly keyOf: readonly KeyBuilder[];

  constructor(
    route: CompiledRoute,
    private readonly buckets: TokenBuckets,
  ) {
    this.policies = route.quota.filter((p) => (p.scope ?? 'local') === 'local');
    this.shapes = this.policies.map((p) => bucketShape(p.limit, p.windowMs, p.burst));
    this.keyOf = this.policies.map((p) => compileKey(p, route.name, bucketPrefix(p.id, p.limit, p.windowMs, p.burst)));
  }

  /**
   * Give back the token every local policy spent on `x`: quota-local admitted the request, a policy checked after
   * it refused it. The keys are built again from the request (only refusals pay for it, nothing is kept per request).
   */
  refund(x: Exchange): void {
    for (let i = 0; i < this.policies.length; i++) this.buckets.refund(this.keyOf[i](x), this.shapes[i]);
  }
}

/** The route's local policies, or undefined when it has none. */
export function localPolicies(route: CompiledRoute, buckets: TokenBuckets): LocalPolicies | undefined {
  const local = new LocalPolicies(route, buckets);
  return local.policies.length ? local : undefined;
}
