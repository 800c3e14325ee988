// Compile a validated config into a route table once per version: host buckets, exact-path maps and a
// segment trie for prefixes, so a lookup walks the path once instead of scanning every route.
import type { AuthPolicy, MeshConfig, QuotaPolicy, RetryPolicy, RouteConfig, ServiceConfig } from './schema.js';
import { durationOr, parseDuration } from './duration.js';

export interface HeaderOps {
  set: [string, string][];
  add: [string, string][];
  remove: string[];
}

export interface ResolvedQuotaPolicy extends QuotaPolicy {
  /** Stable id: route name + index, or the named policy's name. */
  id: string;
  windowMs: number;
}

export interface CompiledRoute {
  readonly name: string;
  readonly config: RouteConfig;
  /** Backend service names with weights; `pickService` chooses per request. */
  readonly backends: { name: string; weight: number }[];
  readonly auth: AuthPolicy | undefined;
  readonly quota: ResolvedQuotaPolicy[];
  /** Overall request timeout (ms), Infinity when unset. */
  readonly timeoutMs: number;
  /** Per-try timeout (ms), Infinity when unset. */
  readonly perTryTimeoutMs: number;
  readonly retry: RetryPolicy | undefined;
  readonly requestHeaders: HeaderOps | undefined;
  readonly responseHeaders: HeaderOps | undefined;
  readonly rewrite: { type: 'ReplacePrefixMatch' | 'ReplaceFullPath'; value: string } | undefined;
  readonly maxBodySize: number | undefined;
  readonly websocket: boolean;
  pickService(): string;
}

export interface RouteMatch {
  route: CompiledRoute;
  /** The path template that matched (http.route): "/public" for a prefix, the exact path otherwise. */
  template: string;
  /** The matched prefix, for ReplacePrefixMatch. */
  prefix: string;
}

interface Candidate {
  route: CompiledRoute;
  template: string;
  prefix: string;
  method: string | undefined;
  headers: [string, string][];
  order: number;
}

interface TrieNode {
  children: Map<string, TrieNode>;
  candidates: Candidate[];
}

interface HostTable {
  exact: Map<string, Candidate[]>;
  prefixes: TrieNode;
}

export type RequestHeaders = Record<string, string | string[] | undefined>;

function newNode(): TrieNode {
  return { children: new Map(), candidates: [] };
}

function newTable(): HostTable {
  return { exact: new Map(), prefixes: newNode() };
}

function segmentsOf(path: string): string[] {
  return path.split('/').filter((s) => s.length > 0);
}

/** Gateway API precedence inside one path: method match first, then more header matches, then file order. */
function byPrecedence(a: Candidate, b: Candidate): number {
  return (b.method ? 1 : 0) - (a.method ? 1 : 0) || b.headers.length - a.headers.length || a.order - b.order;
}

function headerMatches(candidate: Candidate, headers: RequestHeaders): boolean {
  for (const [name, value] of candidate.headers) {
    const got = headers[name];
    if (Array.isArray(got) ? !got.includes(value) : got !== value) return false;
  }
  return true;
}

function firstMatching(list: Candidate[] | undefined, method: string, headers: RequestHeaders): Candidate | undefined {
  if (!list) return undefined;
  for (const c of list) if ((c.method === undefined || c.method === method) && headerMatches(c, headers)) return c;
  return undefined;
}

export class RouteTable {
  private readonly hosts = new Map<string, HostTable>();
  private readonly wildcards = new Map<string, HostTable>();
  private readonly any = newTable();

  constructor(routes: CompiledRoute[]) {
    let order = 0;
    for (const route of routes) {
      const tables = route.config.hostnames?.length
        ? route.config.hostnames.map((h) => this.tableFor(h))
        : [this.any];
      for (const m of route.config.matches) {
        const path = m.path ?? { type: 'PathPrefix' as const, value: '/' };
        const candidate: Candidate = {
          route,
          template: path.value,
          prefix: path.type === 'Exact' ? path.value : path.value.replace(/\/+$/, ''),
          method: m.method,
          headers: (m.headers ?? []).map((h) => [h.name.toLowerCase(), h.value]),
          order: order++,
        };
        for (const table of tables) {
          if (path.type === 'Exact') {
            const list = table.exact.get(path.value) ?? [];
            list.push(candidate);
            table.exact.set(path.value, list);
          } else {
            let node = table.prefixes;
            for (const segment of segmentsOf(path.value)) {
              let child = node.children.get(segment);
              if (!child) node.children.set(segment, (child = newNode()));
              node = child;
            }
            node.candidates.push(candidate);
          }
        }
      }
    }
    for (const table of [this.any, ...this.hosts.values(), ...this.wildcards.values()]) sortTable(table);
  }

  private tableFor(hostname: string): HostTable {
    const wildcard = hostname.startsWith('*.');
    const map = wildcard ? this.wildcards : this.hosts;
    const key = wildcard ? hostname.slice(1) : hostname;
    let table = map.get(key);
    if (!table) map.set(key, (table = newTable()));
    return table;
  }

  /** `host` without port, lowercase; `path` normalized. */
  match(host: string, path: string, method: string, headers: RequestHeaders): RouteMatch | undefined {
    const exact = this.hosts.get(host);
    if (exact) {
      const hit = lookup(exact, path, method, headers);
      if (hit) return hit;
    }
    if (this.wildcards.size) {
      for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
        const table = this.wildcards.get(host.slice(dot));
        const hit = table && lookup(table, path, method, headers);
        if (hit) return hit;
      }
    }
    return lookup(this.any, path, method, headers);
  }
}

function sortTable(table: HostTable): void {
  for (const list of table.exact.values()) list.sort(byPrecedence);
  const stack = [table.prefixes];
  while (stack.length) {
    const node = stack.pop()!;
    node.candidates.sort(byPrecedence);
    stack.push(...node.children.values());
  }
}

function lookup(table: HostTable, path: string, method: string, headers: RequestHeaders): RouteMatch | undefined {
  const exact = firstMatching(table.exact.get(path), method, headers);
  if (exact) return { route: exact.route, template: exact.template, prefix: exact.prefix };
  // Walk the segments once, remembering each node; the deepest (longest prefix) wins. An empty segment counts
  // (Gateway API matches element by element): "//public/x" is not under "/public", because that is the path the
  // app receives, and an app that reads it as a URL sees host "public" and path "/x". Only a trailing "/" is no
  // segment of its own ("/public/" is under "/public").
  const visited: TrieNode[] = [table.prefixes];
  let node = table.prefixes;
  let start = 1;
  while (start < path.length) {
    let end = path.indexOf('/', start);
    if (end === -1) end = path.length;
    const child = end > start ? node.children.get(path.slice(start, end)) : undefined;
    if (!child) break;
    visited.push((node = child));
    start = end + 1;
  }
  for (let i = visited.length - 1; i >= 0; i--) {
    const hit = firstMatching(visited[i].candidates, method, headers);
    if (hit) return { route: hit.route, template: hit.template, prefix: hit.prefix };
  }
  return undefined;
}

function headerOps(modifier: { set?: { name: string; value: string }[]; add?: { name: string; value: string }[]; remove?: string[] } | undefined): HeaderOps | undefined {
  if (!modifier) return undefined;
  return {
    set: (modifier.set ?? []).map((h) => [h.name.toLowerCase(), h.value]),
    add: (modifier.add ?? []).map((h) => [h.name.toLowerCase(), h.value]),
    remove: (modifier.remove ?? []).map((h) => h.toLowerCase()),
  };
}

/** A request timeout; "0s" disables it, as in Gateway API's HTTPRoute (before, every request got an instant 504). */
function timeoutOr(text: string | undefined): number {
  return durationOr(text, Infinity) || Infinity;
}

const WINDOW_MS: Record<string, number> = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000 };

function compileRoute(config: MeshConfig, route: RouteConfig, services: Map<string, ServiceConfig>): CompiledRoute {
  // Named policies are checked before compiling (crossCheck); should one still be missing, refuse the snapshot
  // rather than serve the route without it.
  const named = <T>(kind: 'auth' | 'quota', name: string): T => {
    const policies = config.policies?.[kind] as Record<string, T> | undefined;
    if (!policies || !Object.hasOwn(policies, name)) throw new Error(`route "${route.name}": unknown ${kind} policy "${name}"`);
    return policies[name];
  };
  const auth = typeof route.auth === 'string' ? named<AuthPolicy>('auth', route.auth) : route.auth;
  const quota = (route.quota ?? []).map((q, i): ResolvedQuotaPolicy => {
    const policy = typeof q === 'string' ? named<QuotaPolicy>('quota', q) : q;
    const id = typeof q === 'string' ? q : `${route.name}.${i}`;
    return { ...policy, id, windowMs: WINDOW_MS[policy.window] ?? parseDuration(policy.window) };
  });
  let requestHeaders: HeaderOps | undefined;
  let responseHeaders: HeaderOps | undefined;
  let rewrite: CompiledRoute['rewrite'];
  for (const f of route.filters ?? []) {
    if (f.type === 'RequestHeaderModifier') requestHeaders = headerOps(f.requestHeaderModifier);
    else if (f.type === 'ResponseHeaderModifier') responseHeaders = headerOps(f.responseHeaderModifier);
    else {
      const p = f.urlRewrite.path;
      rewrite = { type: p.type, value: (p.type === 'ReplacePrefixMatch' ? p.replacePrefixMatch : p.replaceFullPath)! };
    }
  }
  const backends = route.backendRefs.map((b) => ({ name: b.name, weight: b.weight ?? 1 }));
  const total = backends.reduce((sum, b) => sum + b.weight, 0);
  const pickService =
    backends.length === 1 || total === 0
      ? () => backends[0].name
      : () => {
          let r = Math.random() * total;
          for (const b of backends) if ((r -= b.weight) < 0) return b.name;
          return backends[backends.length - 1].name;
        };
  const service = services.get(backends[0].name);
  return {
    name: route.name,
    config: route,
    backends,
    auth: auth && auth.required !== false ? auth : auth,
    quota,
    timeoutMs: timeoutOr(route.timeouts?.request ?? service?.timeouts?.request),
    perTryTimeoutMs: timeoutOr(route.timeouts?.backendRequest),
    retry: route.retry ?? service?.retry,
    requestHeaders,
    responseHeaders,
    rewrite,
    maxBodySize: route.maxBodySize,
    websocket: route.websocket ?? false,
    pickService,
  };
}

export interface SnapshotMeta {
  version: number;
  digest: string;
  author?: string;
  message?: string;
  createdAt?: string;
}

export interface CompiledSnapshot extends SnapshotMeta {
  readonly config: MeshConfig;
  readonly routes: CompiledRoute[];
  readonly routesByName: Map<string, CompiledRoute>;
  readonly services: Map<string, ServiceConfig>;
  /** Every route. */
  readonly table: RouteTable;
  /** Routes whose backends include `service` (the sidecar inbound's view), built on first use. */
  tableFor(service: string): RouteTable;
}

export function compileConfig(config: MeshConfig, meta: SnapshotMeta): CompiledSnapshot {
  const services = new Map(config.services.map((s) => [s.name, s]));
  const routes = config.routes.map((r) => compileRoute(config, r, services));
  const perService = new Map<string, RouteTable>();
  return {
    ...meta,
    config,
    routes,
    routesByName: new Map(routes.map((r) => [r.name, r])),
    services,
    table: new RouteTable(routes),
    tableFor(service: string): RouteTable {
      let table = perService.get(service);
      if (!table) perService.set(service, (table = new RouteTable(routes.filter((r) => r.backends.some((b) => b.name === service)))));
      return table;
    },
  };
}
