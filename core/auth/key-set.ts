// The sidecar's mirror of `keys/` in the store: public keys imported once per kid, looked up by jose on a cache miss.
import { importJWK, decodeJwt, errors as joseErrors, type CryptoKey, type KeyObject, type JWTHeaderParameters, type FlattenedJWSInput } from 'jose';
import type { Store, Watcher, WatchEvent } from '../store/store.js';
import { logger } from '../telemetry/log.js';
import { client } from '../telemetry/metrics.js';
import { KEYS_PREFIX, parseKeyRecord, type KeyRecord } from './key-record.js';

const log = logger('key-set');

const keysGauge = new client.Gauge({
  name: 'meshgate_auth_keys',
  help: 'Public signing keys held in this process, from the store.',
  aggregator: 'min', // --workers: each worker mirrors the same keys; a worker behind shows, a sum would double them
});

export interface KeyEntry {
  readonly record: KeyRecord;
  /** The imported key once ready; until then `ready` resolves to it. */
  key: CryptoKey | KeyObject | undefined;
  readonly ready: Promise<CryptoKey | KeyObject>;
}

/** Refused header members: a token may not bring or point at its own key (RFC 7515 §4.1.3–4.1.6). */
const EMBEDDED_KEY_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const;
/** Accepted `typ` values: absent, generic JWT, or an RFC 9068 access token. */
const ACCEPTED_TYP: ReadonlySet<string> = new Set(['jwt', 'at+jwt', 'application/at+jwt', 'application/jwt']);

export interface KeySetOptions {
  /** Epoch-millisecond clock (injected in tests). */
  now?: () => number;
}

/**
 * Keys indexed by kid (several records may share a kid across issuers; the token's `iss` then picks).
 * A `reset` from the store keeps the old entries until the puts that follow it have arrived (next tick),
 * so a re-read never leaves a moment with no keys.
 */
export class KeySet {
  private readonly byStoreKey = new Map<string, { entry: KeyEntry; generation: number }>();
  private readonly byKid = new Map<string, KeyEntry[]>();
  private generation = 0;
  private watcher: Watcher | undefined;
  private readonly now: () => number;

  private constructor(options: KeySetOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Start mirroring `keys/`; resolves once the keys present now are imported. */
  static async watch(store: Store, options: KeySetOptions = {}): Promise<KeySet> {
    const set = new KeySet(options);
    set.watcher = await store.watch(KEYS_PREFIX, (event) => set.apply(event));
    await set.settled();
    return set;
  }

  /** A KeySet with fixed records (tests, and authz-svc's own checks). */
  static async of(records: KeyRecord[], options: KeySetOptions = {}): Promise<KeySet> {
    const set = new KeySet(options);
    for (const r of records) set.apply({ type: 'put', key: `${KEYS_PREFIX}${encodeURIComponent(r.kid)}`, value: JSON.stringify(r) });
    await set.settled();
    return set;
  }

  get size(): number {
    return this.byStoreKey.size;
  }

  /** Every record held (for /.well-known/jwks.json and diagnostics). */
  records(): KeyRecord[] {
    return [...this.byStoreKey.values()].map((v) => v.entry.record);
  }

  /** Wait until every key seen so far is imported (or failed to import). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.byStoreKey.values()].map((v) => v.entry.ready));
  }

  /**
   * Resolve the key for a token header, enforcing what the token may not choose: the algorithm must be the
   * key's own (and in `allowed`, the issuer's configured list), no embedded or remote key, a known `typ`.
   * Throws a jose error (the caller maps every throw to a 401).
   */
  resolve(header: JWTHeaderParameters, token: FlattenedJWSInput | undefined, allowed?: ReadonlySet<string>): KeyEntry {
    for (const h of EMBEDDED_KEY_HEADERS) if (h in header) throw new joseErrors.JOSENotSupported(`header ${h} is not accepted`);
    if (header.typ !== undefined && (typeof header.typ !== 'string' || !ACCEPTED_TYP.has(header.typ.toLowerCase())))
      throw new joseErrors.JWTClaimValidationFailed('unexpected "typ" header', {}, 'typ', 'check_failed');
    if (typeof header.kid !== 'string') throw new joseErrors.JWKSNoMatchingKey('token has no kid');
    const candidates = this.byKid.get(header.kid);
    if (!candidates?.length) throw new joseErrors.JWKSNoMatchingKey(`unknown kid`);
    let entry = candidates[0];
    if (candidates.length > 1) {
      // Same kid under several issuers: only the token's (still unverified) iss can choose; the signature decides.
      const iss = token ? issuerOf(token.payload) : undefined;
      const match = candidates.find((c) => c.record.iss === iss);
      if (!match) throw new joseErrors.JWKSNoMatchingKey('no key of this kid for the token issuer');
      entry = match;
    }
    if (header.alg !== entry.record.alg) throw new joseErrors.JOSEAlgNotAllowed('alg does not match the key');
    if (allowed && !allowed.has(entry.record.alg)) throw new joseErrors.JOSEAlgNotAllowed('alg not allowed for this issuer');
    if (entry.record.notAfter * 1000 < this.now()) throw new joseErrors.JWKSNoMatchingKey('key is past its notAfter');
    return entry;
  }

  async close(): Promise<void> {
    await this.watcher?.close();
    this.watcher = undefined;
  }

  private apply(event: WatchEvent): void {
    if (event.type === 'reset') {
      const generation = ++this.generation;
      // Drop what the re-read did not bring back, once its puts (delivered right after the reset) are in.
      setImmediate(() => {
        for (const [key, v] of this.byStoreKey) if (v.generation < generation) this.remove(key);
      });
      return;
    }
    if (event.type === 'delete') return this.remove(event.key);
    const parsed = parseKeyRecord(event.value);
    if (typeof parsed === 'string') {
      log.warn({ key: event.key, reason: parsed }, 'refused a key record from the store');
      this.remove(event.key);
      return;
    }
    const existing = this.byStoreKey.get(event.key);
    if (existing && sameKey(existing.entry.record, parsed)) {
      // A renewal (notAfter moved): keep the imported key, take the new record.
      const entry: KeyEntry = { record: parsed, key: existing.entry.key, ready: existing.entry.ready };
      this.replace(event.key, entry);
      return;
    }
    const ready = importJWK(parsed, parsed.alg).then((key) => {
      if (key instanceof Uint8Array) throw new Error('symmetric key');
      entry.key = key;
      return key;
    });
    ready.catch((err: Error) => log.warn({ key: event.key, kid: parsed.kid, err: err.message }, 'could not import key'));
    const entry: KeyEntry = { record: parsed, key: undefined, ready };
    this.replace(event.key, entry);
  }

  private replace(storeKey: string, entry: KeyEntry): void {
    this.remove(storeKey);
    this.byStoreKey.set(storeKey, { entry, generation: this.generation });
    const list = this.byKid.get(entry.record.kid) ?? [];
    list.push(entry);
    this.byKid.set(entry.record.kid, list);
    keysGauge.set(this.byStoreKey.size);
  }

  private remove(storeKey: string): void {
    const held = this.byStoreKey.get(storeKey);
    if (!held) return;
    this.byStoreKey.delete(storeKey);
    const list = this.byKid.get(held.entry.record.kid)?.filter((e) => e !== held.entry) ?? [];
    if (list.length) this.byKid.set(held.entry.record.kid, list);
    else this.byKid.delete(held.entry.record.kid);
    keysGauge.set(this.byStoreKey.size);
  }
}

function sameKey(a: KeyRecord, b: KeyRecord): boolean {
  return a.kid === b.kid && a.alg === b.alg && a.iss === b.iss && a.kty === b.kty && a.n === b.n && a.x === b.x && a.y === b.y && a.crv === b.crv;
}

function issuerOf(payload: string | Uint8Array): string | undefined {
  if (typeof payload !== 'string') return undefined;
  try {
    const iss = decodeJwt(`e30.${payload}.`).iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}
