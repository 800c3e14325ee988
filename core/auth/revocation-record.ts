// The revocation entries authz-svc writes under `revoked/` and every sidecar mirrors: kinds, store keys, record shape.
import { hash } from 'node:crypto';

/**
 * - `jti`: one JWT.
 * - `sub`: every token of a subject issued before `before` (epoch seconds).
 * - `kid`: every token signed by a (compromised) key.
 * - `opaque`: one opaque token, by the sha256 hex of its text (the secret itself is never stored).
 */
export const REVOCATION_KINDS = ['jti', 'sub', 'kid', 'opaque'] as const;
export type RevocationKind = (typeof REVOCATION_KINDS)[number];

export const REVOKED_PREFIX = 'revoked/';

/** Added to every revocation's lease for verifiers' clock skew (above the sidecars' 5 s tolerance). */
export const REVOCATION_SKEW_SECONDS = 60;

export interface RevocationRecord {
  kind: RevocationKind;
  /** The jti, subject, kid or opaque-token hash. */
  id: string;
  /** For `sub`: tokens with `iat` before this (epoch seconds) are refused. */
  before?: number;
  /** Epoch seconds when written. */
  revokedAt: number;
  /** Epoch seconds when the entry stops mattering (its lease ends then). */
  expiresAt: number;
  reason?: string;
}

export function revocationStoreKey(kind: RevocationKind, id: string): string {
  return `${REVOKED_PREFIX}${kind}/${encodeURIComponent(id)}`;
}

/** sha256 hex of a token: the cache key of the sidecar and the only form an opaque token is stored or revoked in. */
export function tokenHash(token: string): string {
  return hash('sha256', token, 'hex'); // one-shot: half the cost of a Hash object, on every request
}
