// Publishes a config as one versioned snapshot: config/current plus config/history/<version> in one etcd
// transaction that compares the live record (optimistic concurrency), refusing unflagged removals.
import { hostname, userInfo } from 'node:os';
import type { MeshConfig } from '../core/config/schema.js';
import { ConfigInvalidError, MAX_SNAPSHOT_BYTES, snapshotTooLarge } from '../core/config/check.js';
import { compileRecord, configDigest, type SnapshotRecord } from '../core/config/snapshot.js';
import { CONFIG_KEY } from '../core/config/config-watch.js';
import type { Store, StorePut } from '../core/store/store.js';
import { diffConfigs, removals } from './diff.js';

export const HISTORY_PREFIX = 'config/history/';
/** Snapshots kept for rollback (current included). */
export const HISTORY_LIMIT = 20;

export interface PublishOptions {
  author?: string;
  message?: string;
  /** Allow removing routes or services (add before remove: refused by default). */
  allowRemovals?: boolean;
  /** Fail unless the live snapshot has this version (0 = nothing applied yet). */
  expectVersion?: number;
}

export interface PublishResult {
  version: number;
  digest: string;
  /** True when the live snapshot already has this digest: nothing was written. */
  unchanged: boolean;
}

/** Another apply changed config/current between our read and our write; nothing of ours was written. */
export class ApplyConflictError extends Error {
  override name = 'ApplyConflictError';
}

/** The config removes routes or services and removals were not allowed; nothing was written. */
export class RemovalRefusedError extends Error {
  override name = 'RemovalRefusedError';
  constructor(readonly removed: string[]) {
    super(`refusing to remove ${removed.join(', ')} without --allow-removals (add before remove)`);
  }
}

/** The snapshot asked for is not among the kept ones (or there is nothing earlier to roll back to). */
export class SnapshotNotKeptError extends Error {
  override name = 'SnapshotNotKeptError';
}

export interface LiveSnapshot {
  /** The raw value of config/current, compared in the transaction. */
  text?: string;
  record?: SnapshotRecord;
}

/** The live snapshot record, if any (a record that does not parse is returned as text only). */
export async function readLive(store: Store): Promise<LiveSnapshot> {
  const text = await store.get(CONFIG_KEY);
  if (text === undefined) return {};
  try {
    const record = JSON.parse(text) as SnapshotRecord;
    return typeof record?.version === 'number' ? { text, record } : { text };
  } catch {
    return { text };
  }
}

/** Every kept snapshot, newest first. */
export async function readHistory(store: Store): Promise<SnapshotRecord[]> {
  const out: SnapshotRecord[] = [];
  for (const [key, text] of await store.getPrefix(HISTORY_PREFIX)) {
    if (!/^\d+$/.test(key.slice(HISTORY_PREFIX.length))) continue;
    try {
      out.push(JSON.parse(text) as SnapshotRecord);
    } catch {
      // a damaged history entry is skipped, never fatal
    }
  }
  return out.sort((a, b) => b.version - a.version);
}

export function defaultAuthor(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return hostname();
  }
}

export async function publishSnapshot(store: Store, config: MeshConfig, opts: PublishOptions = {}): Promise<PublishResult> {
  const live = await readLive(store);
  const liveVersion = live.record?.version ?? 0;
  if (opts.expectVersion !== undefined && opts.expectVersion !== liveVersion)
    throw new ApplyConflictError(`the live snapshot is version ${liveVersion}, not ${opts.expectVersion}; review the diff and apply again`);
  const digest = configDigest(config);
  if (live.record?.digest === digest) return { version: liveVersion, digest, unchanged: true };
  if (!opts.allowRemovals) {
    const removed = removals(diffConfigs(live.record?.config, config));
    if (removed.length) throw new RemovalRefusedError(removed);
  }

  const history = await readHistoryKeys(store);
  const version = Math.max(liveVersion, ...history) + 1;
  const record: SnapshotRecord = {
    version,
    digest,
    author: opts.author ?? defaultAuthor(),
    message: opts.message ?? '',
    createdAt: new Date().toISOString(),
    config,
  };
  const text = JSON.stringify(record);
  // The config was measured by validateConfig; a long --message can still take the record past what etcd takes.
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_SNAPSHOT_BYTES) throw new ConfigInvalidError([snapshotTooLarge('the snapshot (config, author and message)', bytes, MAX_SNAPSHOT_BYTES)]);
  // Exactly what every node will run: refuse here what a node would refuse, every wrong field named. The full
  // validator (TypeBox) is loaded here: every meshgate process loads this module with the CLI.
  const { validateConfig } = await import('../core/config/validate.js');
  const { errors } = compileRecord(text, validateConfig);
  if (errors.length) throw new ConfigInvalidError(errors.map((e) => ({ ...e, path: e.path.replace(/^config\./, '') })));

  const puts: StorePut[] = [
    { key: CONFIG_KEY, value: text },
    { key: `${HISTORY_PREFIX}${version}`, value: text },
  ];
  const deletes = history.filter((v) => v <= version - HISTORY_LIMIT).map((v) => `${HISTORY_PREFIX}${v}`);
  if (!(await store.compareAndSwap(CONFIG_KEY, live.text, puts, deletes))) {
    const now = await readLive(store);
    throw new ApplyConflictError(
      `another apply changed the live snapshot meanwhile (now version ${now.record?.version ?? 'none'}, was ${liveVersion}); nothing was written — review the diff and apply again`,
    );
  }
  return { version, digest, unchanged: false };
}

async function readHistoryKeys(store: Store): Promise<number[]> {
  const keys = [...(await store.getPrefix(HISTORY_PREFIX)).keys()];
  return keys.map((k) => k.slice(HISTORY_PREFIX.length)).filter((v) => /^\d+$/.test(v)).map(Number);
}

/**
 * Make a kept snapshot live again, as a new version (versions only grow, so nodes and `status --wait` see it).
 * Without `version`, the newest kept snapshot older than the live one.
 */
export async function rollbackSnapshot(
  store: Store,
  opts: { version?: number; author?: string; message?: string } = {},
): Promise<PublishResult & { restored: number }> {
  const live = await readLive(store);
  const history = await readHistory(store);
  const liveVersion = live.record?.version ?? 0;
  const target =
    opts.version !== undefined
      ? history.find((r) => r.version === opts.version)
      : history.find((r) => r.version < liveVersion && r.digest !== live.record?.digest);
  if (!target) {
    const kept = history.map((r) => r.version).join(', ') || 'none';
    throw new SnapshotNotKeptError(
      opts.version !== undefined ? `version ${opts.version} is not kept (kept: ${kept})` : `no earlier snapshot to roll back to (kept: ${kept})`,
    );
  }
  const result = await publishSnapshot(store, target.config, {
    author: opts.author,
    message: opts.message ?? `rollback to version ${target.version}`,
    allowRemovals: true,
    expectVersion: liveVersion,
  });
  return { ...result, restored: target.version };
}
