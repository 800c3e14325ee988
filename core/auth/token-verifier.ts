// Bearer token → Identity: cached path synchronous (hash, LRU, revocation), miss path jose jwtVerify or introspection.
import { jwtVerify, errors as joseErrors, type JWTPayload } from 'jose';
import type { AuthPolicy, IssuerConfig } from '../config/schema.js';
import { MeshError, invalidToken, meshError } from '../errors.js';
import type { Identity } from '../pipeline/exchange.js';
import { identityHeaderValue } from '../http/strip-identity-headers.js';
import { client, LATENCY_BUCKETS } from '../telemetry/metrics.js';
import { logger } from '../telemetry/log.js';
import { ASYMMETRIC_ALGORITHMS } from './key-record.js';
import type { KeySet, KeyEntry } from './key-set.js';
import type { RevocationList } from './revocation-list.js';
import { tokenHash } from './revocation-record.js';
import type { TokenCache, VerifiedToken } from './token-cache.js';
import { IntrospectionUnavailableError, type IntrospectionResult, type Introspector } from './introspection.js';

const log = logger('token-verifier');

export interface AuthSettings {
  /** Leeway for exp / nbf / iat against clock skew, seconds (default 5). */
  clockToleranceSec: number;
  /** Longest token accepted, bytes (default 8192); longer is refused before it is hashed. */
  maxTokenBytes: number;
  /** How long an introspection answer is reused (default 10 s). */
  introspectionCacheMs: number;
}

export const DEFAULT_AUTH_SETTINGS: AuthSettings = { clockToleranceSec: 5, maxTokenBytes: 8192, introspectionCacheMs: 10_000 };

/** What the authenticate/authorize stages need; built once per sidecar (see startSidecarAuth). */
export interface SidecarAuthDeps {
  keys: KeySet;
  revocations: RevocationList;
  /** Present when opaque tokens can be introspected (authz-svc gRPC client). */
  introspect?: Introspector;
  /** Shared by every route's chain, across snapshots. */
  cache: TokenCache;
  settings: AuthSettings;
  /** Epoch-millisecond clock (injected in tests). */
  now: () => number;
}

/** A route's auth policy compiled once per snapshot. */
export interface CompiledAuthPolicy {
  readonly required: boolean;
  readonly issuers: ReadonlySet<string> | undefined;
  readonly audiences: ReadonlySet<string> | undefined;
  readonly allowMissingExp: boolean;
  readonly opaque: boolean;
  readonly introspectionFailOpen: boolean;
  /** Per-issuer algorithm allow-lists from `issuers[].algorithms`; other issuers get every asymmetric algorithm. */
  readonly algorithms: ReadonlyMap<string, ReadonlySet<string>>;
  readonly scopes: readonly string[];
  readonly anyScopes: readonly string[] | undefined;
  readonly claims: readonly (readonly [string, ReadonlySet<string>])[];
}

const ALL_ALGORITHMS = [...ASYMMETRIC_ALGORITHMS];

export function compileAuthPolicy(policy: AuthPolicy, issuers: IssuerConfig[] | undefined): CompiledAuthPolicy {
  const algorithms = new Map<string, ReadonlySet<string>>();
  for (const i of issuers ?? []) if (i.algorithms) algorithms.set(i.issuer, new Set(i.algorithms));
  return {
    required: policy.required !== false,
    issuers: policy.issuers?.length ? new Set(policy.issuers) : undefined,
    audiences: policy.audiences?.length ? new Set(policy.audiences) : undefined,
    allowMissingExp: policy.allowMissingExp === true,
    opaque: policy.opaque === true,
    introspectionFailOpen: policy.introspectionFailureMode === 'open',
    algorithms,
    scopes: policy.scopes ?? [],
    anyScopes: policy.anyScopes,
    claims: Object.entries(policy.claims ?? {}).map(([name, v]) => [name, new Set(Array.isArray(v) ? v : [v])] as const),
  };
}

/** Refusal reasons are a fixed set: they label the metric and are the `error_description`. */
const REASONS = [
  'missing', 'malformed', 'too_large', 'expired', 'not_yet_valid', 'bad_signature', 'unknown_key', 'algorithm',
  'header', 'issuer', 'audience', 'no_exp', 'revoked', 'inactive', 'unavailable',
] as const;
type Reason = (typeof REASONS)[number];

const failures = new client.Counter({
  name: 'meshgate_auth_failures_total',
  help: 'Tokens refused by the sidecar, by reason.',
  labelNames: ['reason'] as const,
});
const failureCounters = Object.fromEntries(REASONS.map((r) => [r, failures.labels({ reason: r })])) as Record<Reason, client.Counter.Internal>;
const verifyDuration = new client.Histogram({
  name: 'meshgate_auth_verify_duration_seconds',
  help: 'Cache-miss verification time: jose jwtVerify or introspection round trip.',
  labelNames: ['kind'] as const,
  buckets: LATENCY_BUCKETS,
});

function refuse(reason: Reason, description: string): MeshError {
  failureCounters[reason].inc();
  return invalidToken(description);
}

/** RFC 6750 §2.1: `Bearer` then a b64token. Anything else (two headers, other schemes, spaces) is malformed. */
const BEARER = /^[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*) *$/;
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

export type AuthOutcome = Identity | MeshError | undefined;

/**
 * The last token seen on each connection and its hash. A keep-alive client sends the same token request after
 * request: comparing the strings costs a fraction of a sha256, so only a new token on a connection is hashed.
 * The cache lookup, revocation, expiry and policy checks still run on every request. Held per connection object
 * (a WeakMap): one token per open connection, the one it keeps sending, gone with the connection (the long-lived
 * token cache holds hashes only).
 */
const lastTokenHash = new WeakMap<object, { token: string; hash: string }>();

function hashOnConnection(token: string, connection: object | undefined): string {
  if (connection === undefined) return tokenHash(token);
  const last = lastTokenHash.get(connection);
  if (last !== undefined && last.token === token) return last.hash;
  const hash = tokenHash(token);
  lastTokenHash.set(connection, { token, hash });
  return hash;
}

/**
 * Authenticate one request. Returns the Identity, a MeshError, undefined (anonymous, on an optional route),
 * or a Promise of one of those on a cache miss. Never throws. `connection` (the request's socket) lets a token
 * repeated on a keep-alive connection skip its hash.
 */
export function authenticate(
  deps: SidecarAuthDeps,
  policy: CompiledAuthPolicy,
  header: string | string[] | undefined,
  connection?: object,
): AuthOutcome | Promise<AuthOutcome> {
  if (header === undefined || header === '') return policy.required ? refuse('missing', 'missing bearer token') : undefined;
  if (typeof header !== 'string') return refuse('malformed', 'malformed authorization header');
  if (header.length > deps.settings.maxTokenBytes + 16) return refuse('too_large', 'token too large');
  // Fast path for the usual shape: the token's characters are checked on a cache miss only — a hit means this
  // exact string was verified before (the cache is keyed by its hash), so the regex would only cost time.
  let token: string;
  let checked = false;
  if (header.startsWith('Bearer ') && header.charCodeAt(7) !== 32) token = header.slice(7);
  else {
    const match = BEARER.exec(header);
    if (!match) return refuse('malformed', 'malformed authorization header');
    token = match[1];
    checked = true;
  }
  if (deps.revocations.stale) {
    failureCounters.unavailable.inc();
    return meshError('auth_unavailable', 'Revocation state is stale (store unreachable); authentication fails closed.', { 'retry-after': '5' });
  }
  const hash = hashOnConnection(token, connection);
  const cached = deps.cache.get(hash);
  if (cached !== undefined) {
    if (!cached.ok) return refuse('malformed', cached.description);
    return admit(deps, policy, cached, hash);
  }
  if (!checked && !B64TOKEN.test(token)) {
    deps.cache.setRefused(hash, 'malformed authorization header');
    return refuse('malformed', 'malformed authorization header');
  }
  const dots = countDots(token);
  if (dots === 2) return verifyJwt(deps, policy, token, hash);
  if (dots === 0 && policy.opaque && deps.introspect) return introspectOpaque(deps, policy, deps.introspect, token, hash);
  deps.cache.setRefused(hash, 'malformed token');
  return refuse('malformed', 'malformed token');
}

function countDots(token: string): number {
  let n = 0;
  for (let i = token.indexOf('.'); i !== -1; i = token.indexOf('.', i + 1)) n++;
  return n;
}

/** Checks run on every request, cached or not: revocation, expiry, and the route's issuer/audience/alg. */
function admit(deps: SidecarAuthDeps, policy: CompiledAuthPolicy, t: VerifiedToken, hash: string): Identity | MeshError {
  if (deps.revocations.isRevoked(t)) {
    deps.cache.delete(hash);
    return refuse('revoked', 'token revoked');
  }
  // The cache is shared by every route: an opaque token verified for an `opaque: true` route is not a JWT here.
  if (t.opaqueHash !== undefined && !policy.opaque) return refuse('malformed', 'opaque tokens are not accepted on this route');
  if (t.exp === undefined && !policy.allowMissingExp) return refuse('no_exp', 'token has no exp');
  if (t.exp !== undefined && (t.exp + deps.settings.clockToleranceSec) * 1000 <= deps.now()) return refuse('expired', 'token expired');
  const issuer = t.identity.issuer;
  if (policy.issuers && !policy.issuers.has(issuer)) return refuse('issuer', 'issuer not accepted');
  if (policy.audiences && !t.audiences.some((a) => policy.audiences!.has(a))) return refuse('audience', 'audience not accepted');
  if (t.alg !== undefined) {
    const allowed = policy.algorithms.get(issuer);
    if (allowed && !allowed.has(t.alg)) return refuse('algorithm', 'algorithm not allowed');
  }
  return t.identity;
}

async function verifyJwt(deps: SidecarAuthDeps, policy: CompiledAuthPolicy, token: string, hash: string): Promise<AuthOutcome> {
  const started = performance.now();
  let used: KeyEntry | undefined;
  try {
    const { payload, protectedHeader } = await jwtVerify(
      token,
      (header, input) => {
        used = deps.keys.resolve(header, input);
        return used.key ?? used.ready;
      },
      {
        algorithms: ALL_ALGORITHMS,
        clockTolerance: deps.settings.clockToleranceSec,
        currentDate: new Date(deps.now()),
        // RFC 7515 §4.1.11: jose refuses any `crit` it does not understand; we understand none.
        crit: {},
      },
    );
    verifyDuration.labels({ kind: 'jwt' }).observe((performance.now() - started) / 1000);
    const record = used!.record;
    if (payload.iss !== record.iss) return refuseAndRemember(deps, hash, 'issuer', 'issuer does not own the signing key');
    if (typeof payload.sub !== 'string' || payload.sub === '') return refuseAndRemember(deps, hash, 'malformed', 'token has no sub');
    if (payload.iat !== undefined && payload.iat > deps.now() / 1000 + deps.settings.clockToleranceSec)
      return refuse('not_yet_valid', 'token issued in the future');
    const verified = verifiedFromJwt(payload, protectedHeader.kid, record.alg);
    deps.cache.setVerified(hash, verified);
    return admit(deps, policy, verified, hash);
  } catch (err) {
    return refuseJoseError(deps, hash, err);
  }
}

function refuseAndRemember(deps: SidecarAuthDeps, hash: string, reason: Reason, description: string): MeshError {
  deps.cache.setRefused(hash, description);
  return refuse(reason, description);
}

/** Map every failure to a 401. Failures intrinsic to the token are remembered briefly; key or clock ones are not. */
function refuseJoseError(deps: SidecarAuthDeps, hash: string, err: unknown): MeshError {
  if (err instanceof joseErrors.JWTExpired) return refuseAndRemember(deps, hash, 'expired', 'token expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return refuse('not_yet_valid', 'token not yet valid');
    if (err.claim === 'typ') return refuseAndRemember(deps, hash, 'header', 'token typ not accepted');
    return refuseAndRemember(deps, hash, 'malformed', `invalid ${err.claim} claim`);
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return refuseAndRemember(deps, hash, 'bad_signature', 'signature verification failed');
  if (err instanceof joseErrors.JWKSNoMatchingKey) return refuse('unknown_key', 'no matching signing key');
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return refuseAndRemember(deps, hash, 'algorithm', 'algorithm not allowed');
  if (err instanceof joseErrors.JOSENotSupported) return refuseAndRemember(deps, hash, 'header', 'token header not accepted');
  if (err instanceof joseErrors.JOSEError) return refuseAndRemember(deps, hash, 'malformed', 'malformed token');
  // Not a jose error: a key failed to import, or something unexpected. Still a 401, logged once here.
  log.warn({ err: (err as Error)?.message }, 'token verification failed unexpectedly');
  return refuse('malformed', 'token could not be verified');
}

function verifiedFromJwt(payload: JWTPayload, kid: string | undefined, alg: string): VerifiedToken {
  return {
    ok: true,
    identity: identityOf(payload, payload.iss!),
    jti: typeof payload.jti === 'string' ? payload.jti : undefined,
    sub: payload.sub!,
    exp: payload.exp,
    iat: payload.iat,
    kid,
    alg,
    audiences: payload.aud === undefined ? [] : Array.isArray(payload.aud) ? payload.aud : [payload.aud],
    opaqueHash: undefined,
  };
}

/** Scopes from `scope` (RFC 8693 §4.2, space-separated) or `scp` (array or string, as Azure AD and Okta send it). */
export function scopesOf(claims: Record<string, unknown>): Set<string> {
  const out = new Set<string>();
  for (const source of [claims.scope, claims.scp]) {
    if (typeof source === 'string') for (const s of source.split(' ')) if (s) out.add(s);
    if (Array.isArray(source)) for (const s of source) if (typeof s === 'string' && s) out.add(s);
  }
  return out;
}

function identityOf(claims: Record<string, unknown>, issuer: string): Identity {
  const clientId = [claims.client_id, claims.azp, claims.cid].find((v): v is string => typeof v === 'string');
  return {
    subject: claims.sub as string,
    issuer,
    clientId,
    subjectHeader: identityHeaderValue(claims.sub as string),
    clientIdHeader: clientId === undefined ? undefined : identityHeaderValue(clientId),
    scopes: scopesOf(claims),
    claims,
    claimsHeader: Buffer.from(JSON.stringify(claims)).toString('base64url'),
  };
}

async function introspectOpaque(
  deps: SidecarAuthDeps,
  policy: CompiledAuthPolicy,
  introspector: Introspector,
  token: string,
  hash: string,
): Promise<AuthOutcome> {
  const started = performance.now();
  let result: IntrospectionResult;
  try {
    result = await introspector.introspect(token);
  } catch (err) {
    if (!(err instanceof IntrospectionUnavailableError)) log.warn({ err: (err as Error)?.message }, 'introspection failed unexpectedly');
    if (policy.introspectionFailOpen) return undefined;
    failureCounters.unavailable.inc();
    return meshError('auth_unavailable', 'Token introspection is unavailable; authentication fails closed.', { 'retry-after': '1' });
  }
  verifyDuration.labels({ kind: 'introspection' }).observe((performance.now() - started) / 1000);
  if (!result.active || typeof result.sub !== 'string') return refuseAndRemember(deps, hash, 'inactive', 'token inactive');
  const claims: Record<string, unknown> = {
    ...result.claims,
    sub: result.sub,
    ...(result.iss !== undefined && { iss: result.iss }),
    ...(result.scope !== undefined && { scope: result.scope }),
    ...(result.clientId !== undefined && { client_id: result.clientId }),
    ...(result.aud !== undefined && { aud: result.aud }),
    ...(result.exp !== undefined && { exp: result.exp }),
    ...(result.iat !== undefined && { iat: result.iat }),
  };
  const verified: VerifiedToken = {
    ok: true,
    identity: identityOf(claims, result.iss ?? ''),
    jti: undefined,
    sub: result.sub,
    exp: result.exp,
    iat: result.iat,
    kid: undefined,
    alg: undefined,
    audiences: result.aud ?? [],
    opaqueHash: hash,
  };
  deps.cache.setVerified(hash, verified, deps.settings.introspectionCacheMs);
  return admit(deps, policy, verified, hash);
}
