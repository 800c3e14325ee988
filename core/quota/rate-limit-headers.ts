// The rate-limit response headers and the 429: what Kong and most clients read (RateLimit-Limit/-Remaining/-Reset)
// plus the IETF draft's structured fields (draft-ietf-httpapi-ratelimit-headers-10 §4 RateLimit-Policy, §5 RateLimit).
import type { ResolvedQuotaPolicy } from '../config/compile.js';
import { MeshError } from '../errors.js';
import type { Exchange } from '../pipeline/exchange.js';

/** RFC 9651 §3.3.3 sf-string: the policy name is quoted, `"` and `\` escaped. */
export function sfString(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => '\\' + c)}"`;
}

/** Delta-seconds, rounded up so a client waiting that long finds the quota back. */
export function ceilSeconds(ms: number): number {
  return ms <= 0 ? 0 : Math.ceil(ms / 1000);
}

/** RateLimit-Policy for a route: every policy, `"id";q=limit;w=windowSeconds` (computed once per chain). */
export function policyHeaderValue(policies: readonly ResolvedQuotaPolicy[]): string {
  return policies.map((p) => `${sfString(p.id)};q=${p.limit};w=${Math.max(1, Math.round(p.windowMs / 1000))}`).join(', ');
}

/** One policy as the headers present it; the sf-string name is computed once per chain. */
export interface HeaderPolicy {
  readonly id: string;
  /** The sf-string form used in the RateLimit field. */
  readonly name: string;
  readonly limit: number;
}

export function headerPolicy(policy: ResolvedQuotaPolicy): HeaderPolicy {
  return { id: policy.id, name: sfString(policy.id), limit: policy.limit };
}

/**
 * Set the headers of the most restrictive policy seen so far. The local and global stages both call this; the
 * one with fewer remaining requests wins, so the client sees the policy that will refuse it first.
 */
export function setRateLimitHeaders(
  x: Exchange,
  policy: HeaderPolicy,
  remaining: number,
  resetMs: number,
  policyHeader: string,
): void {
  const headers = x.responseHeaders;
  const current = headers['ratelimit-remaining'];
  if (typeof current === 'string' && Number(current) <= remaining) return;
  const remainingText = String(remaining);
  const resetText = String(ceilSeconds(resetMs));
  headers['ratelimit-limit'] = String(policy.limit);
  headers['ratelimit-remaining'] = remainingText;
  headers['ratelimit-reset'] = resetText;
  headers['ratelimit'] = `${policy.name};r=${remainingText};t=${resetText}`;
  headers['ratelimit-policy'] = policyHeader;
}

/** 429 with Retry-After (RFC 9110 §10.2.3) and the refusing policy's headers, also carried on the error. */
export function rateLimited(x: Exchange, policy: HeaderPolicy, retryAfterMs: number, resetMs: number, policyHeader: string): MeshError {
  const headers = x.responseHeaders;
  delete headers['ratelimit-remaining'];
  setRateLimitHeaders(x, policy, 0, resetMs, policyHeader);
  const retryAfter = String(Math.max(1, ceilSeconds(retryAfterMs)));
  headers['retry-after'] = retryAfter;
  return new MeshError('rate_limited', `Rate limit exceeded for policy ${policy.id}; retry after ${retryAfter} s.`, {
    'retry-after': retryAfter,
    'ratelimit-limit': headers['ratelimit-limit'] as string,
    'ratelimit-remaining': '0',
    'ratelimit-reset': headers['ratelimit-reset'] as string,
    ratelimit: headers['ratelimit'] as string,
    'ratelimit-policy': policyHeader,
  });
}
