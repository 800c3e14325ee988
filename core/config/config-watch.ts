// A node's config feed: watches config/current, validates and compiles each snapshot off the request path, swaps
// it in atomically (an invalid one is refused and the old keeps serving), keeps a last-known-good copy on disk to
// boot from when the store is unreachable, and reports what it serves under nodes/<id> with a lease.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { hostname } from 'node:os';
import type { CompiledSnapshot } from './compile.js';
import { compileRecord, type SnapshotHolder } from './snapshot.js';
import { SHAPE_MISMATCH, formatError, type ConfigError } from './check.js';
import type { Lease, Store, WatchEvent, Watcher } from '../store/store.js';
import { client, registry, LATENCY_BUCKETS } from '../telemetry/metrics.js';
import { logger } from '../telemetry/log.js';

/** Every field a refused snapshot gets wrong, by the full validator. */
export async function explainRefusal(text: string): Promise<ConfigError[]> {
  const { validateConfig } = await import('./validate.js');
  return compileRecord(text, validateConfig).errors;
}

export const CONFIG_KEY = 'config/current';
export const NODES_PREFIX = 'nodes/';
const DEFAULT_NODE_TTL_SECONDS = 10;
const REGISTER_RETRY_MIN_MS = 200;
const REGISTER_RETRY_MAX_MS = 5_000;
const WAITING_LOG_INTERVAL_MS = 10_000;
/**
 * A swap is reported under nodes/<id> this long after it (plus up to REPORT_JITTER_MS): a fleet's thousand
 * reports do not land on etcd in the very moments it is fanning the snapshot out to the rest of the fleet, and a
 * burst of swaps is one write. The swap itself is never delayed, and appliedAt/lagMs say when it happened.
 */
export const REPORT_DELAY_MS = 50;
export const REPORT_JITTER_MS = 100;

const log = logger('config-watch');

const configVersion = new client.Gauge({
  name: 'meshgate_config_version',
  help: 'Version of the config snapshot this node serves.',
  labelNames: ['role'] as const,
  registers: [registry],
  aggregator: 'min', // --workers: the version every worker serves (one behind shows), never a sum
});
const propagationSeconds = new client.Histogram({
  name: 'meshgate_config_propagation_seconds',
  help: 'Time from a snapshot being applied (its createdAt) to this node serving it.',
  labelNames: ['role'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});
const rejectedTotal = new client.Counter({
  name: 'meshgate_config_rejected_total',
  help: 'Snapshots refused because they did not validate or compile; the previous one kept serving.',
  labelNames: ['role'] as const,
  registers: [registry],
});

export interface ConfigWatchOptions {
  store: Store;
  holder: SnapshotHolder;
  role: 'edge' | 'sidecar';
  nodeId: string;
  service?: string;
  /** Last-known-good file: written after every swap, read at start when the store has no snapshot to give. */
  lkgPath?: string;
  /** TTL of the nodes/<id> lease; default 10 s. */
  nodeTtlSeconds?: number;
}

/** What a node publishes under nodes/<id> (read by `meshgate status` and the registry's /v1/nodes). */
export interface NodeRecord {
  id: string;
  role: 'edge' | 'sidecar';
  service?: string;
  version?: number;
  digest?: string;
  appliedAt?: string;
  /** createdAt of the snapshot → applied here, in ms (clock skew between machines included). */
  lagMs?: number;
  pid: number;
  host: string;
  /** Where this node got its snapshot: from the store, or from its last-known-good file. */
  source: ConfigSource;
}

export type ConfigSource = 'store' | 'last-known-good' | 'none';

export interface ConfigWatchStatus {
  version?: number;
  digest?: string;
  appliedAt?: string;
  source: ConfigSource;
  rejected: number;
}

export class ConfigWatch {
  private watcher: Watcher | undefined;
  private lease: Lease | undefined;
  private stopped = false;
  private source: ConfigSource = 'none';
  private appliedAt: string | undefined;
  private lagMs: number | undefined;
  private rejected = 0;
  /** The raw record last applied or refused: a re-read (reset + same put) costs nothing. */
  private lastText: string | undefined;
  private pendingText: string | undefined;
  private applyScheduled = false;
  private firstSnapshot: (() => void) | undefined;
  private lkgWrite: Promise<void> = Promise.resolve();
  private registerTimer: NodeJS.Timeout | undefined;
  private registerDelay = REGISTER_RETRY_MIN_MS;
  private registering = false;
  private published: string | undefined;
  /** Snapshots created before this are not propagation to this node (it booted after them). */
  private startedAt = Date.now();
  private publishing: Promise<void> = Promise.resolve();
  private reportTimer: NodeJS.Timeout | undefined;
  private offReachable: (() => void) | undefined;

  constructor(private readonly o: ConfigWatchOptions) {}

  get ready(): boolean {
    return this.o.holder.current !== undefined;
  }

  status(): ConfigWatchStatus {
    const s = this.o.holder.current;
    return { version: s?.version, digest: s?.digest, appliedAt: this.appliedAt, source: this.source, rejected: this.rejected };
  }

  /** Resolves once a snapshot is served: from the store, or from the last-known-good file when the store has none. */
  async start(): Promise<void> {
    this.startedAt = Date.now();
    const served = new Promise<void>((resolve) => (this.firstSnapshot = resolve));
    this.watcher = await this.o.store.watch(CONFIG_KEY, (event) => this.onEvent(event));
    // The watch delivered the live snapshot already, or could not reach the store (it keeps trying).
    this.flush();
    if (!this.ready && this.o.lkgPath) await this.loadLastKnownGood();
    // The store reachable again: a registration waiting on its backoff goes now (a lease lost while etcd was away
    // is expired by etcd as soon as it answers, and nodes/<id> is missing from `meshgate status` until it is back).
    this.offReachable = this.o.store.onReachable(() => {
      if (this.stopped || this.lease || this.registering || this.registerTimer === undefined) return;
      clearTimeout(this.registerTimer);
      this.registerTimer = undefined;
      this.registerDelay = REGISTER_RETRY_MIN_MS;
      void this.register();
    });
    void this.register();
    if (!this.ready && !this.stopped) {
      log.warn({ node: this.o.nodeId }, `no snapshot yet (store ${this.o.store.connected ? 'has no ' + CONFIG_KEY : 'unreachable'}, no last-known-good); waiting`);
      const nag = setInterval(() => log.warn({ node: this.o.nodeId }, `still waiting for ${CONFIG_KEY}; apply a config with meshgate apply`), WAITING_LOG_INTERVAL_MS);
      await served;
      clearInterval(nag);
    }
    this.firstSnapshot = undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.offReachable?.();
    clearTimeout(this.registerTimer);
    clearTimeout(this.reportTimer);
    this.firstSnapshot?.();
    await this.watcher?.close();
    this.watcher = undefined;
    const lease = this.lease;
    this.lease = undefined;
    // Leave the fleet view at once rather than when the lease times out.
    await lease?.revoke().catch((err) => log.debug({ err: (err as Error).message }, 'node lease revoke failed; it expires by itself'));
    await this.lkgWrite;
  }

  private onEvent(event: WatchEvent): void {
    // A reset is followed by the key's put when it exists; without one, the snapshot in service stays.
    if (event.type === 'reset' || event.key !== CONFIG_KEY) return;
    if (event.type === 'delete') {
      log.warn({ node: this.o.nodeId }, `${CONFIG_KEY} was deleted; keeping the snapshot in service`);
      return;
    }
    // Coalesce bursts: only the newest record is compiled, once the current callback stack is done.
    this.pendingText = event.value;
    if (!this.applyScheduled) {
      this.applyScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.applyScheduled = false;
    const text = this.pendingText;
    this.pendingText = undefined;
    if (text === undefined || this.stopped) return;
    this.apply(text, 'store');
  }

  private apply(text: string, source: 'store' | 'last-known-good'): boolean {
    if (text === this.lastText) {
      if (source === 'store' && this.source !== 'store' && this.ready) this.source = 'store';
      return this.ready;
    }
    this.lastText = text;
    const { snapshot, errors } = compileRecord(text);
    if (!snapshot) {
      this.rejected++;
      rejectedTotal.inc({ role: this.o.role });
      const serving = this.o.holder.current?.version;
      const report = (list: ConfigError[]) =>
        log.warn(
          { node: this.o.nodeId, source, errors: list.slice(0, 10).map((e) => formatError(e)), errorCount: list.length, serving },
          'snapshot refused; the previous one keeps serving',
        );
      if (errors[0]?.message !== SHAPE_MISMATCH) report(errors);
      // A wrong shape is named field by field with TypeBox, loaded now (a node's everyday check does without it).
      else void explainRefusal(text).then(report, () => report(errors));
      return false;
    }
    const swapped = this.o.holder.swap(snapshot);
    this.source = source;
    if (!swapped) return true;
    this.appliedAt = new Date().toISOString();
    const created = snapshot.createdAt ? Date.parse(snapshot.createdAt) : NaN;
    // Propagation lag only for snapshots applied while this node was watching: a boot or a catch-up after
    // downtime picking up an old snapshot says nothing about how fast changes travel.
    this.lagMs = source === 'store' && Number.isFinite(created) && created >= this.startedAt ? Date.now() - created : undefined;
    configVersion.set({ role: this.o.role }, snapshot.version);
    if (this.lagMs !== undefined) propagationSeconds.observe({ role: this.o.role }, this.lagMs / 1000);
    log.info({ node: this.o.nodeId, version: snapshot.version, digest: snapshot.digest, source, lagMs: this.lagMs }, 'snapshot swapped in');
    if (source === 'store') this.writeLastKnownGood(text);
    this.scheduleReport();
    this.firstSnapshot?.();
    return true;
  }

  private async loadLastKnownGood(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.o.lkgPath!, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err: (err as Error).message, file: this.o.lkgPath }, 'last-known-good unreadable');
      return;
    }
    // The store may have answered meanwhile: the store wins.
    if (this.ready) return;
    if (this.apply(text, 'last-known-good'))
      log.warn({ node: this.o.nodeId, version: this.o.holder.current?.version, file: this.o.lkgPath }, 'serving the last-known-good snapshot until the store answers');
  }

  /** write temp + rename: a crash mid-write never leaves a torn file to boot from. Writes are serialized. */
  private writeLastKnownGood(text: string): void {
    const path = this.o.lkgPath;
    if (!path) return;
    this.lkgWrite = this.lkgWrite.then(async () => {
      const temp = `${path}.${process.pid}.tmp`;
      try {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(temp, text, { mode: 0o600 });
        await rename(temp, path);
      } catch (err) {
        log.warn({ err: (err as Error).message, file: path }, 'could not write the last-known-good snapshot');
      }
    });
  }

  private nodeRecord(): NodeRecord {
    const s: CompiledSnapshot | undefined = this.o.holder.current;
    return {
      id: this.o.nodeId,
      role: this.o.role,
      service: this.o.service,
      version: s?.version,
      digest: s?.digest,
      appliedAt: this.appliedAt,
      lagMs: this.lagMs,
      pid: process.pid,
      host: hostname(),
      source: this.source,
    };
  }

  /**
   * Grant the node lease and put nodes/<id>; retried with backoff (and at once when the store is reachable again),
   * and again whenever the lease is lost.
   */
  private async register(): Promise<void> {
    if (this.stopped || this.registering || this.lease) return;
    this.registering = true;
    try {
      const lease = await this.o.store.grantLease(this.o.nodeTtlSeconds ?? DEFAULT_NODE_TTL_SECONDS);
      if (this.stopped) {
        await lease.revoke().catch(() => {});
        return;
      }
      lease.onLost(() => {
        if (this.lease !== lease) return;
        this.lease = undefined;
        log.warn({ node: this.o.nodeId }, 'node lease lost; registering again');
        void this.register();
      });
      const record = JSON.stringify(this.nodeRecord());
      await lease.put(`${NODES_PREFIX}${this.o.nodeId}`, record);
      this.lease = lease;
      this.published = record;
      this.registerDelay = REGISTER_RETRY_MIN_MS;
    } catch (err) {
      if (this.stopped) return;
      log.debug({ err: (err as Error).message, node: this.o.nodeId }, 'node registration failed; retrying');
      clearTimeout(this.registerTimer);
      this.registerTimer = setTimeout(() => {
        this.registerTimer = undefined;
        void this.register();
      }, this.registerDelay);
      this.registerDelay = Math.min(this.registerDelay * 2, REGISTER_RETRY_MAX_MS);
    } finally {
      this.registering = false;
    }
    // A swap may have happened while registering: make sure the record says what is served now.
    if (this.lease) void this.publishNodeRecord();
  }

  /** Report the swap shortly (see REPORT_DELAY_MS); the record is built when the timer fires, so a burst is one put. */
  private scheduleReport(): void {
    if (this.reportTimer) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = undefined;
      void this.publishNodeRecord();
    }, REPORT_DELAY_MS + Math.random() * REPORT_JITTER_MS);
    this.reportTimer.unref();
  }

  /** Put nodes/<id> when what it says changed; serialized, so an older record never lands after a newer one. */
  private publishNodeRecord(): Promise<void> {
    this.publishing = this.publishing.then(async () => {
      const lease = this.lease;
      if (!lease || this.stopped) return;
      const record = JSON.stringify(this.nodeRecord());
      if (record === this.published) return;
      try {
        await lease.put(`${NODES_PREFIX}${this.o.nodeId}`, record);
        this.published = record;
      } catch (err) {
        log.debug({ err: (err as Error).message, node: this.o.nodeId }, 'node record update failed; the next swap or re-registration retries');
      }
    });
    return this.publishing;
  }
}
