// Config snapshots: the record stored at config/current, its content digest, and the one reference nodes swap.
import { createHash } from 'node:crypto';
import type { MeshConfig } from './schema.js';
import { checkConfig, type ConfigError } from './check.js';
import { compileConfig, type CompiledSnapshot } from './compile.js';

/** What `meshgate apply` writes to `config/current` (and to history). */
export interface SnapshotRecord {
  version: number;
  digest: string;
  author: string;
  message: string;
  createdAt: string;
  config: MeshConfig;
}

/** JSON with sorted keys, so the digest depends on content, not on key order in the file. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function configDigest(config: MeshConfig): string {
  return `sha256:${createHash('sha256').update(canonicalJson(config)).digest('hex')}`;
}

export type ConfigValidator = (value: unknown) => { config?: MeshConfig; errors: ConfigError[] };

/**
 * Parse, validate and compile a stored record; an invalid one is refused whole with its errors. Nodes check with
 * checkConfig (no TypeBox; a wrong shape is one error), the registry with validateConfig (every field named).
 */
export function compileRecord(
  text: string,
  validate: ConfigValidator = checkConfig,
): { snapshot?: CompiledSnapshot; record?: SnapshotRecord; errors: ConfigError[] } {
  let record: SnapshotRecord;
  try {
    record = JSON.parse(text) as SnapshotRecord;
  } catch (err) {
    return { errors: [{ path: '', message: `snapshot is not JSON: ${(err as Error).message}` }] };
  }
  if (!record || typeof record !== 'object' || typeof record.version !== 'number')
    return { errors: [{ path: 'version', message: 'snapshot record has no numeric version' }] };
  const { config, errors } = validate(record.config);
  if (!config) return { errors: errors.map((e) => ({ ...e, path: `config.${e.path}` })) };
  let snapshot: CompiledSnapshot;
  try {
    snapshot = compileConfig(config, {
      version: record.version,
      digest: record.digest ?? configDigest(config),
      author: record.author,
      message: record.message,
      createdAt: record.createdAt,
    });
  } catch (err) {
    // A snapshot the checks let through but that cannot be compiled is refused like an invalid one: a node keeps
    // serving what it had instead of crashing on it.
    return { errors: [{ path: 'config', message: `cannot be compiled: ${(err as Error).message}` }] };
  }
  return { snapshot, record, errors: [] };
}

/** The one reference a node serves from; requests read it once at accept and keep what they got. */
export class SnapshotHolder {
  private value: CompiledSnapshot | undefined;
  private readonly listeners = new Set<(s: CompiledSnapshot) => void>();

  get current(): CompiledSnapshot | undefined {
    return this.value;
  }

  swap(next: CompiledSnapshot): boolean {
    if (this.value && this.value.digest === next.digest && this.value.version === next.version) return false;
    this.value = next;
    for (const l of this.listeners) l(next);
    return true;
  }

  onSwap(listener: (s: CompiledSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
