// The sidecar's mirror of `revoked/` in the store: O(1) checks per request, and fail-closed when it may be stale
// or was never loaded.
import type { Store, Watcher, WatchEvent } from '../store/store.js';
import { logger } from '../telemetry/log.js';
import { client } from '../telemetry/metrics.js';
import { REVOCATION_KINDS, REVOKED_PREFIX, type RevocationKind, type RevocationRecord } from './revocation-record.js';

const log = logger('revocation-list');

const entriesGauge = new client.Gauge({
  name: 'meshgate_auth_revocations',
  help: 'Revocation entries mirrored from the store, by kind.',
  labelNames: ['kind'] as const,
  aggregator: 'min', // --workers: each worker mirrors the same list; a sum would double it
});
const staleGauge = new client.Gauge({
  name: 'meshgate_auth_revocations_stale',
  help: '1 while the revocation mirror may be stale (never loaded from the store, or store unreachable past the bound): authenticated routes fail closed.',
  aggregator: 'max', // --workers: one stale worker fails closed
});
const staleSeconds = new client.Gauge({
  name: 'meshgate_auth_store_disconnected_seconds',
  help: 'Seconds since the store connection was lost (0 while connected).',
  aggregator: 'max',
});

/** What a revocation check needs to know about a token. */
export interface RevocationSubject {
  readonly jti: string | undefined;
  readonly sub: string;
  /** Epoch seconds; a token without `iat` counts as issued before any subject revocation. */
  readonly iat: number | undefined;
  readonly kid: string | undefined;
  readonly opaqueHash: string | undefined;
}

export interface RevocationListOptions {
  /**
   * How long the store may be unreachable before the mirror counts as stale and authenticated routes
   * fail closed (503 auth_unavailable): default 10 s.
   */
  staleAfterMs?: number;
  /** How often the store connection is sampled for the gauge and the log (default staleAfterMs / 4, at least 100 ms). */
  checkIntervalMs?: number;
  /** Epoch-millisecond clock (injected in tests). */
  now?: () => number;
  /**
   * Whatever else authentication needs from the store has been read from it at least once (the sidecar's key
   * set): until then the list counts as not loaded, so authenticated routes fail closed. Default: nothing else.
   */
  othersLoaded?: () => boolean;
}

interface Held {
  record: RevocationRecord;
  generation: number;
}

export class RevocationList {
  private readonly jti = new Map<string, Held>();
  private readonly sub = new Map<string, Held>();
  private readonly kid = new Map<string, Held>();
  private readonly opaque = new Map<string, Held>();
  private readonly byKind: Record<RevocationKind, Map<string, Held>> = { jti: this.jti, sub: this.sub, kid: this.kid, opaque: this.opaque };
  private readonly listeners = new Set<(record: RevocationRecord) => void>();
  private generation = 0;
  private watcher: Watcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private disconnectedSince: number | undefined;
  /**
   * Set when the store was seen unreachable; cleared only once the mirror is known complete again (a `reset`
   * re-read arrived, or our own read after reconnecting merged in). `connected` alone is not enough: the store
   * can be reachable again before this watch has re-read, and revocations made meanwhile are not here yet.
   */
  private awaitingResync = false;
  /**
   * False until `revoked/` has been read from the store once (a watch's `reset`, or our own read). A node started
   * from its last-known-good config while the store is down has no revocations and no keys: it must fail closed
   * at once, not serve from nothing for the staleness bound.
   */
  private listLoaded = false;
  private resyncing = false;
  /** What the last warning said, so each transition is logged once. */
  private reportedStale: false | 'stale' | 'not loaded' = false;
  private readonly staleAfterMs: number;
  private readonly now: () => number;
  private readonly othersLoaded: () => boolean;

  private constructor(
    private readonly store: Store,
    options: RevocationListOptions,
  ) {
    this.staleAfterMs = options.staleAfterMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.othersLoaded = options.othersLoaded ?? (() => true);
  }

  static async watch(store: Store, options: RevocationListOptions = {}): Promise<RevocationList> {
    const list = new RevocationList(store, options);
    list.watcher = await store.watch(REVOKED_PREFIX, (event) => list.apply(event));
    const interval = options.checkIntervalMs ?? Math.max(100, Math.floor(list.staleAfterMs / 4));
    list.timer = setInterval(() => list.sample(), interval);
    list.timer.unref();
    list.sample();
    return list;
  }

  /** O(1): at most four map lookups. */
  isRevoked(t: RevocationSubject): boolean {
    if (t.jti !== undefined && this.jti.has(t.jti)) return true;
    if (t.kid !== undefined && this.kid.has(t.kid)) return true;
    if (t.opaqueHash !== undefined && this.opaque.has(t.opaqueHash)) return true;
    const bySubject = this.sub.get(t.sub);
    return bySubject !== undefined && (t.iat === undefined || t.iat < (bySubject.record.before ?? Infinity));
  }

  /** True once revocations (and what `othersLoaded` names) have been read from the store at least once. */
  get loaded(): boolean {
    return this.listLoaded && this.othersLoaded();
  }

  /**
   * True when the caller must fail closed: the mirror was never loaded from the store, or the store has been
   * unreachable for longer than the bound (a revocation may have been missed). Reads the store's flag, so it
   * turns true without waiting for the timer.
   */
  get stale(): boolean {
    if (!this.loaded) {
      if (!this.listLoaded && this.store.connected) this.resync();
      return true;
    }
    if (this.store.connected && !this.awaitingResync) {
      if (this.disconnectedSince !== undefined) this.sample();
      return false;
    }
    const now = this.now();
    if (!this.store.connected) this.awaitingResync = true;
    else this.resync();
    if (this.disconnectedSince === undefined) this.disconnectedSince = now;
    return now - this.disconnectedSince > this.staleAfterMs;
  }

  /** For /readyz detail. */
  status(): { revocations: number; loaded: boolean; storeConnected: boolean; stale: boolean; disconnectedForMs: number; staleAfterMs: number } {
    const stale = this.stale;
    return {
      revocations: this.size,
      loaded: this.loaded,
      storeConnected: this.store.connected,
      stale,
      disconnectedForMs: this.disconnectedSince === undefined ? 0 : this.now() - this.disconnectedSince,
      staleAfterMs: this.staleAfterMs,
    };
  }

  get size(): number {
    return this.jti.size + this.sub.size + this.kid.size + this.opaque.size;
  }

  /** Listen for new revocations (the token cache evicts matching entries). */
  onRevoked(listener: (record: RevocationRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.watcher?.close();
    this.watcher = undefined;
  }

  /** Timer tick: track the disconnect, move the gauges, log each transition once. */
  private sample(): void {
    const now = this.now();
    if (!this.store.connected) this.awaitingResync = true;
    else if (this.awaitingResync || !this.listLoaded) this.resync();
    if (this.store.connected && !this.awaitingResync) {
      if (this.disconnectedSince !== undefined) {
        log.info({ disconnectedForMs: now - this.disconnectedSince }, 'store reachable and revocations re-read; mirror fresh');
        this.disconnectedSince = undefined;
      }
      staleSeconds.set(0);
    } else if (this.disconnectedSince === undefined) {
      this.disconnectedSince = now;
      log.warn({ staleAfterMs: this.staleAfterMs }, 'store unreachable; revocations may go stale');
    }
    const down = this.disconnectedSince === undefined ? 0 : now - this.disconnectedSince;
    if (this.disconnectedSince !== undefined) staleSeconds.set(down / 1000);
    const loaded = this.loaded;
    const stale = !loaded || down > this.staleAfterMs;
    staleGauge.set(stale ? 1 : 0);
    if (!stale) {
      if (this.reportedStale === 'not loaded') log.info('keys and revocations loaded from the store; authenticated routes served');
      this.reportedStale = false;
      return;
    }
    const reason = loaded ? 'stale' : 'not loaded';
    if (this.reportedStale === reason) return;
    this.reportedStale = reason;
    if (loaded) log.warn({ disconnectedForMs: down }, 'revocation mirror stale: authenticated routes fail closed until the store is back');
    else log.warn('keys and revocations not loaded from the store yet: authenticated routes fail closed until they are');
  }

  /**
   * Reconnected but not yet re-read: read `revoked/` ourselves and merge it in, add-only (a delete is left to the
   * watch: applying an older read could otherwise drop an entry the watch has just delivered).
   */
  private resync(): void {
    if (this.resyncing) return;
    this.resyncing = true;
    this.store.getPrefix(REVOKED_PREFIX).then(
      (entries) => {
        this.resyncing = false;
        if (!this.store.connected) return;
        for (const [key, value] of entries) this.apply({ type: 'put', key, value }, true);
        this.awaitingResync = false;
        this.listLoaded = true;
        this.sample();
      },
      () => {
        this.resyncing = false;
      },
    );
  }

  private apply(event: WatchEvent, merge = false): void {
    if (event.type === 'reset') {
      // A re-read of the whole prefix follows synchronously: once it is in, the mirror is complete again.
      this.awaitingResync = false;
      this.listLoaded = true;
      const generation = ++this.generation;
      // Keep the old entries until the re-read's puts are in: a re-read must never un-revoke, even for a tick.
      setImmediate(() => {
        for (const map of Object.values(this.byKind))
          for (const [id, held] of map) if (held.generation < generation) map.delete(id);
        this.updateGauges();
      });
      return;
    }
    const parsed = parseKey(event.key);
    if (!parsed) return;
    const map = this.byKind[parsed.kind];
    if (event.type === 'delete') {
      map.delete(parsed.id);
      this.updateGauges();
      return;
    }
    let record: RevocationRecord;
    try {
      record = JSON.parse(event.value) as RevocationRecord;
    } catch {
      // Unreadable entry: still a revocation of that id (fail closed), with no subject bound.
      record = { kind: parsed.kind, id: parsed.id, revokedAt: 0, expiresAt: 0 };
    }
    if (parsed.kind === 'sub' && typeof record.before !== 'number') record = { ...record, before: Infinity };
    const held = map.get(parsed.id);
    if (merge && held) {
      // Our own read may be older than what the watch delivered: never narrow a subject revocation.
      if (parsed.kind === 'sub') held.record = { ...held.record, before: Math.max(held.record.before ?? Infinity, record.before ?? Infinity) };
      return;
    }
    map.set(parsed.id, { record, generation: this.generation });
    this.updateGauges();
    for (const l of this.listeners) l(record);
  }

  private updateGauges(): void {
    for (const kind of REVOCATION_KINDS) entriesGauge.labels({ kind }).set(this.byKind[kind].size);
  }
}

function parseKey(key: string): { kind: RevocationKind; id: string } | undefined {
  const rest = key.slice(REVOKED_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash < 0) return undefined;
  const kind = rest.slice(0, slash) as RevocationKind;
  if (!REVOCATION_KINDS.includes(kind)) return undefined;
  try {
    return { kind, id: decodeURIComponent(rest.slice(slash + 1)) };
  } catch {
    return undefined;
  }
}
