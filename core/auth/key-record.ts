// The public signing key as stored at `keys/<id>`: a JWK (RFC 7517) plus who issues with it and until when it is trusted.
import type { JWK } from 'jose';

/** Asymmetric JWS algorithms the mesh accepts (RFC 7518 §3, RFC 8037). Never `none`, never HMAC: keys are public. */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
] as const;
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];
const ALGORITHM_SET: ReadonlySet<string> = new Set(ASYMMETRIC_ALGORITHMS);

export function isAsymmetricAlgorithm(alg: unknown): alg is AsymmetricAlgorithm {
  return typeof alg === 'string' && ALGORITHM_SET.has(alg);
}

/** What `keys/<id>` holds (JSON). Extra members beside the JWK ones are allowed by RFC 7517 §4. */
export interface KeyRecord extends JWK {
  kid: string;
  alg: AsymmetricAlgorithm;
  use: 'sig';
  /** The issuer (`iss`) whose tokens this key may verify; a token from another issuer never matches it. */
  iss: string;
  /** Epoch seconds after which no valid token can need this key (renewed while it signs; fixed at rotation). */
  notAfter: number;
  /** Epoch seconds when it was published. */
  publishedAt: number;
  /** `authz` for keys authz-svc signs with, `jwks` for keys synced from an external issuer. */
  source: 'authz' | 'jwks';
}

/** JWK members that only a private key has; a record carrying any of them is refused (and never published). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

export const KEYS_PREFIX = 'keys/';

/** Store key of a record; kids are URL-encoded because they are free text for external issuers. */
export function keyStoreKey(id: string): string {
  return `${KEYS_PREFIX}${encodeURIComponent(id)}`;
}

/** Parse and check a stored record; returns a reason when it must not be trusted. */
export function parseKeyRecord(text: string): KeyRecord | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (!value || typeof value !== 'object') return 'not an object';
  const r = value as Partial<KeyRecord> & Record<string, unknown>;
  if (typeof r.kid !== 'string' || !r.kid) return 'no kid';
  if (!isAsymmetricAlgorithm(r.alg)) return `alg ${String(r.alg)} is not an accepted asymmetric algorithm`;
  if (r.kty !== 'RSA' && r.kty !== 'EC' && r.kty !== 'OKP') return `kty ${String(r.kty)} is not asymmetric`;
  if (r.use !== undefined && r.use !== 'sig') return `use ${String(r.use)} is not sig`;
  if (typeof r.iss !== 'string' || !r.iss) return 'no iss';
  if (typeof r.notAfter !== 'number') return 'no notAfter';
  for (const m of PRIVATE_MEMBERS) if (m in r) return `carries private member ${m}`;
  return r as KeyRecord;
}

/** The JWK alone (for /.well-known/jwks.json): kid, alg, use and the key material. */
export function publicJwk(record: KeyRecord): JWK {
  const { iss: _iss, notAfter: _n, publishedAt: _p, source: _s, ...jwk } = record;
  return jwk;
}
