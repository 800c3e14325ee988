// authz-svc's operations, shared by the HTTP and gRPC APIs: issue, introspect, revoke, list revocations, rotate.
import { decodeJwt } from 'jose';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Store } from '../core/store/store.js';
import { KEYS_PREFIX, parseKeyRecord } from '../core/auth/key-record.js';
import { REVOCATION_SKEW_SECONDS, REVOKED_PREFIX, revocationStoreKey, tokenHash, type RevocationKind, type RevocationRecord } from '../core/auth/revocation-record.js';
import type { RevocationList } from '../core/auth/revocation-list.js';
import type { IntrospectionResult } from '../core/auth/introspection.js';
import { fieldPath } from '../core/config/check.js';
import { logger } from '../core/telemetry/log.js';
import { client } from '../core/telemetry/metrics.js';
import { tokensIssued, type SigningKeys } from './signing-keys.js';
import { looksOpaque, newOpaqueToken, type OpaqueTokenStore } from './opaque-tokens.js';

const log = logger('token-service');

const revocationsWritten = new client.Counter({
  name: 'meshgate_authz_revocations_total',
  help: 'Revocations written to the store, by kind.',
  labelNames: ['kind'] as const,
});
const introspections = new client.Counter({
  name: 'meshgate_authz_introspections_total',
  help: 'Opaque-token introspections answered, by result.',
  labelNames: ['result'] as const,
});

/** A request field failed validation: the APIs answer 400 / INVALID_ARGUMENT naming `field`. */
export class InvalidField extends Error {
  override name = 'InvalidField';
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`${field}: ${detail}`);
  }
}

const ScopeText = Type.String({ pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+( [\\x21\\x23-\\x5b\\x5d-\\x7e]+)*$', maxLength: 2048 });
const Text = (max: number) => Type.String({ minLength: 1, maxLength: max });

/** POST /v1/tokens (and gRPC IssueToken). */
export const IssueBody = Type.Object(
  {
    sub: Text(256),
    scope: Type.Optional(ScopeText),
    aud: Type.Optional(Type.Union([Text(512), Type.Array(Text(512), { minItems: 1, maxItems: 16 })])),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
    clientId: Type.Optional(Text(256)),
    claims: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { maxProperties: 64 })),
    type: Type.Optional(Type.Union([Type.Literal('jwt'), Type.Literal('opaque')])),
  },
  { additionalProperties: false },
);
export type IssueBody = Static<typeof IssueBody>;

/** POST /v1/revocations (and gRPC Revoke): exactly one of jti, sub, kid, token, tokenHash. */
export const RevokeBody = Type.Object(
  {
    jti: Type.Optional(Text(512)),
    sub: Type.Optional(Text(256)),
    kid: Type.Optional(Text(512)),
    token: Type.Optional(Text(16384)),
    tokenHash: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
    before: Type.Optional(Type.Integer({ minimum: 0 })),
    expiresAt: Type.Optional(Type.Integer({ minimum: 0 })),
    reason: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
);
export type RevokeBody = Static<typeof RevokeBody>;

const TARGETS = ['jti', 'sub', 'kid', 'token', 'tokenHash'] as const;

const MAX_CLAIM_DEPTH = 32;
/** A revocation outlives nothing by more than this (an etcd lease has a maximum TTL; a timer, a maximum delay). */
const MAX_REVOCATION_SECONDS = 10 * 365 * 86_400;

/** Breadth-first, so a deep value cannot overflow the stack while it is measured. */
function nestsDeeperThan(value: unknown, max: number): boolean {
  let level: unknown[] = [value];
  for (let depth = 0; level.length > 0; depth++) {
    if (depth > max) return true;
    const next: unknown[] = [];
    for (const v of level) if (v !== null && typeof v === 'object') for (const child of Object.values(v)) next.push(child);
    level = next;
  }
  return false;
}

const checkers = new Map<TSchema, ReturnType<typeof TypeCompiler.Compile>>();

/** Validate with the schema; the first error becomes an InvalidField naming its path. */
export function validateBody<S extends TSchema>(schema: S, value: unknown): Static<S> {
  let checker = checkers.get(schema);
  if (!checker) checkers.set(schema, (checker = TypeCompiler.Compile(schema)));
  if (checker.Check(value)) return value as Static<S>;
  const first = checker.Errors(value).First()!;
  const path = fieldPath(first.path.split('/').slice(1)) || '(body)';
  throw new InvalidField(path, first.message);
}

export interface IssuedToken {
  token: string;
  type: 'jwt' | 'opaque';
  /** Epoch seconds. */
  expiresAt: number;
  jti?: string;
  kid?: string;
}

export interface TokenServiceOptions {
  store: Store;
  keys: SigningKeys;
  opaque: OpaqueTokenStore;
  /** authz-svc's own mirror of `revoked/`, consulted by introspection. */
  revocations: RevocationList;
  /** Margin added to every revocation lease for verifiers' clock skew (default 60 s). */
  skewSeconds?: number;
  now?: () => number;
}

export class TokenService {
  private readonly store: Store;
  private readonly keys: SigningKeys;
  private readonly opaque: OpaqueTokenStore;
  private readonly revocations: RevocationList;
  private readonly now: () => number;
  private readonly skew: number;

  constructor(options: TokenServiceOptions) {
    this.skew = options.skewSeconds ?? REVOCATION_SKEW_SECONDS;
    this.store = options.store;
    this.keys = options.keys;
    this.opaque = options.opaque;
    this.revocations = options.revocations;
    this.now = options.now ?? Date.now;
  }

  private nowSec(): number {
    return Math.floor(this.now() / 1000);
  }

  async issue(body: IssueBody): Promise<IssuedToken> {
    const ttl = body.ttlSeconds ?? this.keys.defaultTtl;
    if (ttl > this.keys.maxTtlSeconds) throw new InvalidField('ttlSeconds', `must be at most ${this.keys.maxTtlSeconds}`);
    if (body.claims) {
      // JSON.parse keeps "__proto__" as a name; set on a payload it would replace the payload's prototype.
      if (Object.hasOwn(body.claims, '__proto__')) throw new InvalidField('claims.__proto__', 'is not a claim name');
      // Checked before serializing: JSON.stringify overflows the stack on a few thousand levels.
      if (nestsDeeperThan(body.claims, MAX_CLAIM_DEPTH)) throw new InvalidField('claims', `must nest at most ${MAX_CLAIM_DEPTH} levels`);
      if (JSON.stringify(body.claims).length > 4096) throw new InvalidField('claims', 'must serialize to at most 4096 bytes');
    }
    if (body.type === 'opaque') {
      const token = newOpaqueToken();
      const iat = this.nowSec();
      const aud = body.aud === undefined ? undefined : Array.isArray(body.aud) ? body.aud : [body.aud];
      await this.opaque.save(tokenHash(token), { sub: body.sub, scope: body.scope, clientId: body.clientId, aud, iss: this.keys.issuer, iat, exp: iat + ttl, claims: body.claims }, ttl);
      tokensIssued.labels({ kind: 'opaque' }).inc();
      return { token, type: 'opaque', expiresAt: iat + ttl };
    }
    const token = await this.keys.issue({ sub: body.sub, scope: body.scope, aud: body.aud, ttlSeconds: ttl, claims: body.claims, clientId: body.clientId });
    const claims = decodeJwt(token);
    return { token, type: 'jwt', expiresAt: claims.exp!, jti: claims.jti, kid: this.keys.kid };
  }

  /** RFC 7662: inactive for anything unknown, expired or revoked. Rejects with OpaqueStoreUnavailable when Redis is down. */
  async introspect(token: string): Promise<IntrospectionResult> {
    if (!looksOpaque(token)) return this.inactive('unknown');
    const hash = tokenHash(token);
    const record = await this.opaque.load(hash);
    if (!record) return this.inactive('unknown');
    if (record.exp <= this.nowSec()) return this.inactive('expired');
    if (this.revocations.isRevoked({ jti: undefined, sub: record.sub, iat: record.iat, kid: undefined, opaqueHash: hash })) return this.inactive('revoked');
    introspections.labels({ result: 'active' }).inc();
    return {
      active: true,
      sub: record.sub,
      scope: record.scope,
      clientId: record.clientId,
      iss: record.iss,
      aud: record.aud,
      exp: record.exp,
      iat: record.iat,
      claims: record.claims,
    };
  }

  private inactive(result: string): IntrospectionResult {
    introspections.labels({ result }).inc();
    return { active: false };
  }

  /**
   * Write one revocation under `revoked/<kind>/<id>` with a lease ending when nothing it affects can still be
   * valid (+ a skew margin), so the blocklist expires by itself.
   */
  async revoke(body: RevokeBody): Promise<RevocationRecord> {
    const given = TARGETS.filter((t) => body[t] !== undefined);
    if (given.length !== 1) throw new InvalidField('target', `exactly one of ${TARGETS.join(', ')} is required`);
    const now = this.nowSec();
    const longest = now + this.keys.maxTtlSeconds;
    if (body.before !== undefined && body.sub === undefined) throw new InvalidField('before', 'only applies to sub');
    if (body.expiresAt !== undefined && body.expiresAt <= now) throw new InvalidField('expiresAt', 'must be in the future');
    if (body.expiresAt !== undefined && body.expiresAt > now + MAX_REVOCATION_SECONDS) throw new InvalidField('expiresAt', 'must be at most 10 years ahead');
    const reason = body.reason;
    let kind: RevocationKind;
    let id: string;
    let expiresAt: number;
    let before: number | undefined;

    if (body.jti !== undefined) {
      [kind, id, expiresAt] = ['jti', body.jti, body.expiresAt ?? longest];
    } else if (body.sub !== undefined) {
      // `iat` has whole seconds: "before now" is the end of this second, so a token issued earlier in this same
      // second is revoked too (a stolen token used at once), and one issued later this second along with it.
      before = body.before ?? now + 1;
      if (before > longest) throw new InvalidField('before', `must be at most ${this.keys.maxTtlSeconds} s ahead`);
      // A token issued just before T lives at most maxTtl past T.
      [kind, id, expiresAt] = ['sub', body.sub, body.expiresAt ?? before + this.keys.maxTtlSeconds];
    } else if (body.kid !== undefined) {
      [kind, id] = ['kid', body.kid];
      expiresAt = await this.revokeKey(body.kid, longest);
    } else if (body.tokenHash !== undefined) {
      [kind, id] = ['opaque', body.tokenHash];
      expiresAt = await this.forgetOpaque(body.tokenHash, longest);
    } else {
      const token = body.token!;
      if (looksOpaque(token)) {
        [kind, id] = ['opaque', tokenHash(token)];
        expiresAt = await this.forgetOpaque(id, longest);
      } else {
        let claims: ReturnType<typeof decodeJwt>;
        try {
          claims = decodeJwt(token);
        } catch {
          throw new InvalidField('token', 'is neither an opaque token nor a JWT');
        }
        if (typeof claims.jti !== 'string' || !claims.jti) throw new InvalidField('token', 'JWT has no jti; revoke by sub or kid');
        [kind, id] = ['jti', claims.jti];
        expiresAt = typeof claims.exp === 'number' ? Math.min(Math.max(claims.exp, now + 1), now + MAX_REVOCATION_SECONDS) : longest;
      }
    }

    const key = revocationStoreKey(kind, id);
    // A second revocation of the same id keeps the wider one: the later `before`, the later expiry.
    const existing = parseRecord(await this.store.get(key));
    if (existing) {
      expiresAt = Math.max(expiresAt, existing.expiresAt);
      if (before !== undefined && existing.before !== undefined) before = Math.max(before, existing.before);
    }
    const record: RevocationRecord = { kind, id, ...(before !== undefined && { before }), revokedAt: now, expiresAt, ...(reason && { reason }) };
    await this.store.put(key, JSON.stringify(record), { ttlSeconds: Math.max(1, expiresAt - now + this.skew) });
    revocationsWritten.labels({ kind }).inc();
    log.info({ kind, id: kind === 'opaque' ? `${id.slice(0, 8)}…` : id, expiresAt, before }, 'revocation written');
    return record;
  }

  /** A compromised key: stop signing with it (rotate if active) and unpublish it; the revocation outlives its notAfter. */
  private async revokeKey(kid: string, fallback: number): Promise<number> {
    if (kid === this.keys.kid) await this.keys.rotate();
    if (kid === this.keys.nextKid) await this.keys.replaceNext();
    const records = await this.store.getPrefix(KEYS_PREFIX);
    let notAfter: number | undefined;
    for (const [storeKey, text] of records) {
      const record = parseKeyRecord(text);
      if (typeof record === 'string' || record.kid !== kid) continue;
      notAfter = Math.max(notAfter ?? 0, record.notAfter);
      // External keys come back with the next JWKS sync; the revocation entry keeps refusing them.
      await this.store.delete(storeKey);
    }
    this.keys.forget(kid);
    return notAfter ?? fallback;
  }

  private async forgetOpaque(hash: string, fallback: number): Promise<number> {
    const record = await this.opaque.load(hash).catch(() => undefined);
    await this.opaque.remove(hash).catch((err: Error) => log.warn({ err: err.message }, 'could not delete the opaque token record; the revocation entry still refuses it'));
    return record?.exp ?? fallback;
  }

  async listRevocations(kind?: string): Promise<RevocationRecord[]> {
    if (kind !== undefined && kind !== '' && !['jti', 'sub', 'kid', 'opaque'].includes(kind)) throw new InvalidField('kind', 'must be jti, sub, kid or opaque');
    const entries = await this.store.getPrefix(kind ? `${REVOKED_PREFIX}${kind}/` : REVOKED_PREFIX);
    const out: RevocationRecord[] = [];
    for (const text of entries.values()) {
      const record = parseRecord(text);
      if (record) out.push(record);
    }
    return out.sort((a, b) => b.revokedAt - a.revokedAt || a.id.localeCompare(b.id));
  }

  async rotate(): Promise<{ kid: string; previousKid: string }> {
    const previousKid = this.keys.kid;
    const kid = await this.keys.rotate();
    return { kid, previousKid };
  }
}

function parseRecord(text: string | undefined): RevocationRecord | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as RevocationRecord;
  } catch {
    return undefined;
  }
}

