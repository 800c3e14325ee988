// What an apply would change: routes, services, policies and issuers added, changed or removed, by name.
import type { MeshConfig } from '../core/config/schema.js';
import { canonicalJson } from '../core/config/snapshot.js';

export interface NamedChanges {
  added: string[];
  changed: string[];
  removed: string[];
}

export interface ConfigDiff {
  routes: NamedChanges;
  services: NamedChanges;
  /** `auth/<name>` and `quota/<name>`. */
  policies: NamedChanges;
  /** By issuer URL. */
  issuers: NamedChanges;
}

function diffNamed<T>(live: Iterable<[string, T]>, next: Iterable<[string, T]>): NamedChanges {
  const before = new Map(live);
  const after = new Map(next);
  const out: NamedChanges = { added: [], changed: [], removed: [] };
  for (const [name, value] of after) {
    if (!before.has(name)) out.added.push(name);
    else if (canonicalJson(before.get(name)) !== canonicalJson(value)) out.changed.push(name);
  }
  for (const name of before.keys()) if (!after.has(name)) out.removed.push(name);
  return out;
}

function policies(config: MeshConfig | undefined): [string, unknown][] {
  return [
    ...Object.entries(config?.policies?.auth ?? {}).map(([n, p]): [string, unknown] => [`auth/${n}`, p]),
    ...Object.entries(config?.policies?.quota ?? {}).map(([n, p]): [string, unknown] => [`quota/${n}`, p]),
  ];
}

/** Compare the live config (undefined = nothing applied yet) with the one about to be applied. */
export function diffConfigs(live: MeshConfig | undefined, next: MeshConfig): ConfigDiff {
  return {
    routes: diffNamed(
      (live?.routes ?? []).map((r) => [r.name, r]),
      next.routes.map((r) => [r.name, r]),
    ),
    services: diffNamed(
      (live?.services ?? []).map((s) => [s.name, s]),
      next.services.map((s) => [s.name, s]),
    ),
    policies: diffNamed(policies(live), policies(next)),
    issuers: diffNamed(
      (live?.issuers ?? []).map((i) => [i.issuer, i]),
      (next.issuers ?? []).map((i) => [i.issuer, i]),
    ),
  };
}

const KINDS = [
  ['routes', 'route'],
  ['services', 'service'],
  ['policies', 'policy'],
  ['issuers', 'issuer'],
] as const;

export function isEmptyDiff(diff: ConfigDiff): boolean {
  return KINDS.every(([k]) => diff[k].added.length + diff[k].changed.length + diff[k].removed.length === 0);
}

/** Removed routes and services as `route x` / `service y`: what apply refuses without --allow-removals. */
export function removals(diff: ConfigDiff): string[] {
  return [...diff.routes.removed.map((n) => `route ${n}`), ...diff.services.removed.map((n) => `service ${n}`)];
}

/** One line per change, `+` added, `~` changed, `-` removed, grouped by kind. */
export function formatDiff(diff: ConfigDiff): string[] {
  const lines: string[] = [];
  for (const [key, noun] of KINDS) {
    for (const name of diff[key].added) lines.push(`+ ${noun} ${name}`);
    for (const name of diff[key].changed) lines.push(`~ ${noun} ${name}`);
    for (const name of diff[key].removed) lines.push(`- ${noun} ${name}`);
  }
  return lines;
}
