// The bucket key of a quota policy for one request, built from the policy's key parts with one concatenation.
//
// Parts: `client-ip` (x.clientIp, which the edge sets from trusted forwarding headers), `route` (constant per
// chain, so folded into the prefix), `claim:NAME` (x.identity.claims), `header:NAME` (x.req.headers). A part the
// request lacks counts as the empty value: such requests share one bucket per policy rather than escaping it.
import { createHash } from 'node:crypto';
import type { ResolvedQuotaPolicy } from '../config/compile.js';
import type { Exchange } from '../pipeline/exchange.js';

/** Dynamic parts longer than this are hashed, so a hostile header cannot make one key cost kilobytes. */
export const MAX_KEY_PART_CHARS = 96;
const SEPARATOR = '\u0000';

export type KeyBuilder = (x: Exchange) => string;

/** The policy's key parts, `client-ip` when none are listed. */
export function keyParts(policy: ResolvedQuotaPolicy): readonly string[] {
  return policy.key ?? ['client-ip'];
}

function bounded(value: string): string {
  return value.length <= MAX_KEY_PART_CHARS ? value : createHash('sha256').update(value).digest('base64url');
}

function claimValue(x: Exchange, name: string): string {
  const value = x.identity?.claims[name];
  if (typeof value === 'string') return bounded(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return '';
}

function headerValue(x: Exchange, name: string): string {
  const value = x.req.headers[name];
  if (typeof value === 'string') return bounded(value);
  return value === undefined ? '' : bounded(value.join(','));
}

type PartReader = (x: Exchange) => string;

function partReader(part: string): PartReader {
  if (part === 'client-ip') return (x) => x.clientIp;
  if (part.startsWith('claim:')) {
    const name = part.slice('claim:'.length);
    return (x) => claimValue(x, name);
  }
  if (part.startsWith('header:')) {
    const name = part.slice('header:'.length).toLowerCase();
    return (x) => headerValue(x, name);
  }
  throw new Error(`unknown quota key part "${part}"`);
}

/**
 * Compile a key builder once per route and policy. `prefix` identifies the policy (and its shape) and already
 * ends with the separator; the route name is folded in when the policy keys by route.
 */
export function compileKey(policy: ResolvedQuotaPolicy, routeName: string, prefix: string): KeyBuilder {
  const parts = keyParts(policy);
  let constant = prefix;
  const readers: PartReader[] = [];
  for (const part of parts) {
    if (part === 'route') constant += routeName + SEPARATOR;
    else readers.push(partReader(part));
  }
  if (readers.length === 0) return () => constant;
  if (readers.length === 1) {
    const [read] = readers;
    return (x) => constant + read(x);
  }
  if (readers.length === 2) {
    const [a, b] = readers;
    return (x) => constant + a(x) + SEPARATOR + b(x);
  }
  return (x) => {
    let key = constant + readers[0](x);
    for (let i = 1; i < readers.length; i++) key += SEPARATOR + readers[i](x);
    return key;
  };
}

/** The `{policy:key}` identity a global policy is counted under (the key without the process-local prefix). */
export function compileGlobalKey(policy: ResolvedQuotaPolicy, routeName: string): KeyBuilder {
  return compileKey(policy, routeName, '');
}

export { SEPARATOR as KEY_SEPARATOR };
