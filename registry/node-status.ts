// The fleet's rollout as nodes report it under nodes/<id>: who serves which version, with what lag, and whether
// every live node serves a given version yet.
import type { NodeRecord } from '../core/config/config-watch.js';
import { NODES_PREFIX } from '../core/config/config-watch.js';
import { compileRecord } from '../core/config/snapshot.js';
import { formatError } from '../core/config/check.js';
import type { Store } from '../core/store/store.js';

export interface Rollout {
  /** The version waited for (default: the live snapshot's). */
  target?: number;
  liveVersion?: number;
  liveDigest?: string;
  /** Why the nodes refuse config/current (each keeps serving the last snapshot it took); absent when they take it. */
  liveRefused?: string;
  nodes: NodeRecord[];
  /** Nodes serving `target` or newer. */
  serving: number;
  /** Nodes behind `target` (or with no snapshot). */
  behind: NodeRecord[];
  /** True when at least one node is live and every live node serves `target` or newer. */
  complete: boolean;
}

/** config/current as the nodes see it. */
export interface LiveView {
  version?: number;
  /** The digest the nodes report for it (computed from the config when the record has none). */
  digest?: string;
  /** Why the nodes refuse it (the first error of the check they run); absent when they take it. */
  refused?: string;
}

/** Judge config/current's raw value as a node does (the same check and compile), for the rollout line. */
export function liveView(text: string | undefined): LiveView | undefined {
  if (text === undefined) return undefined;
  const { snapshot, errors } = compileRecord(text);
  if (snapshot) return { version: snapshot.version, digest: typeof snapshot.digest === 'string' ? snapshot.digest : undefined };
  let version: unknown;
  try {
    version = (JSON.parse(text) as { version?: unknown } | null)?.version;
  } catch {
    // not JSON: no version to name
  }
  const first = errors[0];
  // compileRecord names a fault of the whole config "config." (its path prefix on an empty path).
  const refused = first ? formatError({ ...first, path: first.path.replace(/\.$/, '') }) : 'not a snapshot record';
  return { version: typeof version === 'number' ? version : undefined, refused };
}

export function parseNodes(entries: Iterable<[string, string]>): NodeRecord[] {
  const nodes: NodeRecord[] = [];
  for (const [key, value] of entries) {
    try {
      const node = JSON.parse(value) as NodeRecord;
      nodes.push({ ...node, id: node.id ?? key.slice(NODES_PREFIX.length) });
    } catch {
      // a foreign value under nodes/ is not a node
    }
  }
  return nodes.sort((a, b) => (a.role === b.role ? (a.id < b.id ? -1 : 1) : a.role < b.role ? -1 : 1));
}

export async function readNodes(store: Store): Promise<NodeRecord[]> {
  return parseNodes(await store.getPrefix(NODES_PREFIX));
}

export function rollout(nodes: NodeRecord[], live?: LiveView, target = live?.version): Rollout {
  const behind = target === undefined ? [] : nodes.filter((n) => n.version === undefined || n.version < target);
  return {
    target,
    liveVersion: live?.version,
    liveDigest: live?.digest,
    liveRefused: live?.refused,
    nodes,
    serving: nodes.length - behind.length,
    behind,
    complete: target !== undefined && nodes.length > 0 && behind.length === 0,
  };
}

/** A fixed-width table: one line per node, then a summary line. */
export function formatRollout(r: Rollout, now = Date.now()): string[] {
  const rows = [['NODE', 'ROLE', 'SERVICE', 'VERSION', 'APPLIED', 'LAG', 'SOURCE']];
  for (const n of r.nodes) {
    rows.push([
      n.id,
      n.role,
      n.service ?? '-',
      n.version === undefined ? '-' : String(n.version),
      n.appliedAt ? `${ago(now - Date.parse(n.appliedAt))} ago` : '-',
      n.lagMs === undefined ? '-' : `${n.lagMs}ms`,
      n.source ?? '-',
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd());
  lines.push(`${liveLine(r)}; ${r.serving}/${r.nodes.length} node(s) serve version ${r.target ?? '-'}${r.target !== undefined ? ' or newer' : ''}`);
  return lines;
}

/** What config/current holds: its version and digest, or why the nodes refuse it (never "undefined"). */
function liveLine(r: Rollout): string {
  if (r.liveRefused !== undefined) {
    const what = r.liveVersion === undefined ? 'config/current' : `live version ${r.liveVersion}`;
    return `${what} is refused by the nodes (${r.liveRefused}); each serves the last snapshot it took`;
  }
  if (r.liveVersion === undefined) return 'no snapshot applied';
  return `live version ${r.liveVersion} (${typeof r.liveDigest === 'string' && r.liveDigest ? `${r.liveDigest.slice(0, 19)}…` : 'no digest'})`;
}

function ago(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '0s';
  if (ms < 60_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m`;
  return `${Math.round(ms / 3_600_000)}h`;
}
