// What the sidecar asks authz-svc about an opaque token (RFC 7662 shape), and the error when it cannot ask.

/** RFC 7662 §2.2 fields the mesh uses; `active: false` for unknown, expired or revoked tokens. */
export interface IntrospectionResult {
  active: boolean;
  sub?: string;
  /** Space-separated scopes (RFC 7662 §2.2). */
  scope?: string;
  clientId?: string;
  iss?: string;
  aud?: string[];
  /** Epoch seconds. */
  exp?: number;
  iat?: number;
  /** Extra claims recorded at issue. */
  claims?: Record<string, unknown>;
}

export interface Introspector {
  /** Resolves the token's state; rejects with IntrospectionUnavailableError when authz-svc cannot answer. */
  introspect(token: string): Promise<IntrospectionResult>;
}

export class IntrospectionUnavailableError extends Error {
  override name = 'IntrospectionUnavailableError';
}

/** Opaque tokens carry this prefix so the sidecar tells them from JWTs without guessing (like GitHub's `ghp_`). */
export const OPAQUE_TOKEN_PREFIX = 'mgo_';
