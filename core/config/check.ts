// Check a config document without TypeBox at run time: the shape with TypeBox's own check compiled ahead of time
// (shape-check.ts, generated), then what the schema cannot say. Nodes check every snapshot from the store with it;
// the field-by-field error walk (validate.ts, TypeBox) is loaded only to explain a document that fails.
import type { MeshConfig, QuotaPolicy, RouteConfig } from './schema.js';
import { isMeshConfigShape } from './shape-check.js';
import { MAX_TIMER_MS, parseDuration } from './duration.js';

export interface ConfigError {
  /** Field path in dotted/bracket form, e.g. routes[0].matches[0].path.value */
  path: string;
  message: string;
  /** 1-based line in the source file when known. */
  line?: number;
}

export class ConfigInvalidError extends Error {
  constructor(
    readonly errors: ConfigError[],
    readonly source = 'config',
  ) {
    super(`${source}: ${errors.length} error(s): ${formatErrors(errors).join('; ')}`);
    this.name = 'ConfigInvalidError';
  }
}

export function formatError(error: ConfigError, file?: string): string {
  const where = file ? `${file}${error.line ? `:${error.line}` : ''}: ` : error.line ? `line ${error.line}: ` : '';
  return `${where}${error.path || '(root)'}: ${error.message}`;
}

/**
 * The largest snapshot record (JSON) apply writes. etcd refuses a request above 1.5 MiB by default
 * (--max-request-bytes), and apply's one transaction carries three records: the live one it compares, the new one as
 * config/current and again as its history entry. A config that validated could not be applied (etcd: "request is
 * too large", with a stack).
 */
export const MAX_SNAPSHOT_BYTES = 500 * 1024;
/** Room in a record for what is not the config: version, digest, author, message, time. */
export const SNAPSHOT_RECORD_ROOM = 4 * 1024;

/** The error for a snapshot above MAX_SNAPSHOT_BYTES: what it measures, the limit and why there is one. */
export function snapshotTooLarge(what: string, bytes: number, limit: number): ConfigError {
  return {
    path: '',
    message: `${what} is ${bytes} bytes as JSON; at most ${limit} fit in a snapshot (etcd refuses a request above 1.5 MiB, and apply writes the snapshot twice in one): split it or remove routes`,
  };
}

/** Errors reported one per line; past them, how many more (a broken big file printed 168,206 lines). */
export const MAX_REPORTED_ERRORS = 50;

/** The first MAX_REPORTED_ERRORS errors formatted, then "… and N more" when there are more. */
export function formatErrors(errors: ConfigError[], file?: string): string[] {
  const lines = errors.slice(0, MAX_REPORTED_ERRORS).map((e) => formatError(e, file));
  if (errors.length > MAX_REPORTED_ERRORS) lines.push(`… and ${errors.length - MAX_REPORTED_ERRORS} more`);
  return lines;
}

/** JSON-pointer segments → "routes[0].matches[0].path". */
export function fieldPath(segments: (string | number)[]): string {
  let out = '';
  for (const s of segments) out += typeof s === 'number' || /^[0-9]+$/.test(String(s)) ? `[${s}]` : out ? `.${s}` : String(s);
  return out;
}

/** The shape failed: which fields, validate.ts says (it loads TypeBox). */
export const SHAPE_MISMATCH = 'does not have the shape of a meshgate/v1 config';

/** Shape, then cross-references. A shape mismatch is one error at the root; validateConfig names the fields. */
export function checkConfig(value: unknown): { config?: MeshConfig; errors: ConfigError[] } {
  if (!isMeshConfigShape(value)) return { errors: [{ path: '', message: SHAPE_MISMATCH }] };
  const config = value as MeshConfig;
  const errors = crossCheck(config);
  return errors.length ? { errors } : { config, errors };
}

/** What the schema cannot say: unique names, references that resolve, no match hidden by another, durations in range. */
export function crossCheck(config: MeshConfig): ConfigError[] {
  const errors: ConfigError[] = [];
  const services = new Set<string>();
  config.services.forEach((s, i) => {
    if (services.has(s.name)) errors.push({ path: `services[${i}].name`, message: `duplicate service name "${s.name}"` });
    services.add(s.name);
  });
  // Own names only: `in` would find "constructor" or "toString" on Object.prototype (a route with `auth: constructor`
  // passed, compiled to a policy with no checks, and served without authentication).
  const authPolicies = config.policies?.auth ?? {};
  const quotaPolicies = config.policies?.quota ?? {};
  const routes = new Set<string>();
  const matchOwners = new Map<string, MatchOwner>();
  config.routes.forEach((r, i) => {
    const at = `routes[${i}]`;
    if (routes.has(r.name)) errors.push({ path: `${at}.name`, message: `duplicate route name "${r.name}"` });
    routes.add(r.name);
    r.backendRefs.forEach((b, j) => {
      if (!services.has(b.name)) errors.push({ path: `${at}.backendRefs[${j}].name`, message: `unknown service "${b.name}"` });
    });
    if (typeof r.auth === 'string' && !Object.hasOwn(authPolicies, r.auth))
      errors.push({ path: `${at}.auth`, message: `unknown auth policy "${r.auth}" (define it under policies.auth)` });
    r.quota?.forEach((q, j) => {
      if (typeof q === 'string' && !Object.hasOwn(quotaPolicies, q))
        errors.push({ path: `${at}.quota[${j}]`, message: `unknown quota policy "${q}" (define it under policies.quota)` });
    });
    r.filters?.forEach((f, j) => {
      if (f.type !== 'URLRewrite') return;
      const p = f.urlRewrite.path;
      if (p.type === 'ReplacePrefixMatch') {
        if (p.replacePrefixMatch === undefined)
          errors.push({ path: `${at}.filters[${j}].urlRewrite.path.replacePrefixMatch`, message: 'required for type ReplacePrefixMatch' });
        if (r.matches.some((m) => m.path?.type === 'Exact'))
          errors.push({ path: `${at}.filters[${j}].urlRewrite.path.type`, message: 'ReplacePrefixMatch needs PathPrefix matches only' });
      } else if (p.replaceFullPath === undefined)
        errors.push({ path: `${at}.filters[${j}].urlRewrite.path.replaceFullPath`, message: 'required for type ReplaceFullPath' });
    });
    checkShadowed(r, at, matchOwners, errors);
  });
  checkDurations(config, errors);
  checkQuotaWindows(config, errors);
  return errors;
}

interface MatchOwner {
  /** "routes[0].matches[1]" */
  at: string;
  route: string;
}

/**
 * An Exact path match that an earlier route's equals on every hostname it has (same path, method and headers) is never
 * reached: the route table takes the first in file order. Refused, the later one named (it was accepted, and its
 * route silently got no traffic). Matches in one route may repeat each other; that route is reached either way.
 */
function checkShadowed(route: RouteConfig, at: string, owners: Map<string, MatchOwner>, errors: ConfigError[]): void {
  const hosts = route.hostnames?.length ? route.hostnames : [''];
  route.matches.forEach((m, j) => {
    if (m.path?.type !== 'Exact') return;
    const headers = (m.headers ?? []).map((h) => `${h.name.toLowerCase()}:${h.value}`).sort();
    const key = JSON.stringify([m.path.value, m.method ?? '', headers]);
    const earlier = hosts.map((h) => owners.get(`${h} ${key}`));
    const first = earlier[0];
    if (first && earlier.every((o) => o && o.route !== route.name))
      errors.push({
        path: `${at}.matches[${j}]`,
        message: `never reached: ${first.at} (route "${first.route}") has the same Exact path ${m.path.value}, method, headers and hostnames, and comes first`,
      });
    for (const h of hosts) if (!owners.has(`${h} ${key}`)) owners.set(`${h} ${key}`, { at: `${at}.matches[${j}]`, route: route.name });
  });
}

const DURATION_LIKE = /^([0-9]+(h|m|s|ms))+$/;

/**
 * Every Duration field of the schema (schema.ts), "[]" for each item of an array and "*" for each entry of a record; a
 * unit test holds this list equal to the schema. Only these are durations: a hostname "30000h" or a scope "99999h"
 * merely looks like one (every string that did was checked, and refused).
 */
export const DURATION_FIELDS = [
  'issuers[].refreshInterval',
  'services[].timeouts.request',
  'services[].timeouts.connect',
  'services[].timeouts.idle',
  'services[].retry.backoff',
  'services[].retry.maxBackoff',
  'services[].circuitBreaker.resetTimeout',
  'services[].circuitBreaker.rollingWindow',
  'services[].outlierDetection.baseEjectionTime',
  'services[].healthCheck.interval',
  'services[].healthCheck.timeout',
  'routes[].timeouts.request',
  'routes[].timeouts.backendRequest',
  'routes[].retry.backoff',
  'routes[].retry.maxBackoff',
  'routes[].quota[].window',
  'policies.quota.*.window',
] as const;

const DURATION_STEPS = DURATION_FIELDS.map((field) => field.match(/\[\]|[^.[\]]+/g)!);

/** Each Duration field must fit a 32-bit timer. Runs on every snapshot a node receives: walks only those fields. */
function checkDurations(config: MeshConfig, errors: ConfigError[]): void {
  for (const steps of DURATION_STEPS) visitDurations(config, steps, 0, '', errors);
}

/**
 * The shortest window a global quota policy takes. Each lease is a round trip to quota-svc and Redis (deadline
 * 250 ms) and leases are sized by 100 ms of traffic: a window near that length ends before its grant arrives (a
 * 1 ms window refused every request). Kong's, Envoy's ratelimit service's and APISIX's smallest windows are a second
 * too; finer rates belong to a local policy.
 */
export const MIN_GLOBAL_WINDOW_MS = 1000;

/** A quota window of 0 (a local bucket that never limits, a global one that refuses all), a global one too short. */
function checkQuotaWindows(config: MeshConfig, errors: ConfigError[]): void {
  config.routes.forEach((r, i) =>
    r.quota?.forEach((q, j) => {
      if (typeof q === 'object') checkQuotaWindow(q, `routes[${i}].quota[${j}].window`, errors);
    }),
  );
  const named = config.policies?.quota ?? {};
  for (const name of Object.keys(named)) checkQuotaWindow(named[name], `policies.quota.${name}.window`, errors);
}

function checkQuotaWindow(policy: QuotaPolicy, path: string, errors: ConfigError[]): void {
  // A word (second, minute, hour, day) is never too short.
  if (!DURATION_LIKE.test(policy.window)) return;
  const ms = parseDuration(policy.window);
  if (ms === 0) errors.push({ path, message: `window ${policy.window} is zero: a quota window must be longer than 0` });
  else if (policy.scope === 'global' && ms < MIN_GLOBAL_WINDOW_MS)
    errors.push({
      path,
      message: `window ${policy.window} is shorter than 1s, the shortest a global policy takes (each lease is a round trip to quota-svc); use a local policy for a finer rate`,
    });
}

function visitDurations(node: unknown, steps: string[], at: number, path: string, errors: ConfigError[]): void {
  if (at === steps.length) {
    // A quota window may also be a word ("minute"); a name given for an inline policy is no object and ends the walk.
    if (typeof node === 'string' && DURATION_LIKE.test(node) && parseDuration(node) > MAX_TIMER_MS)
      errors.push({ path, message: `duration ${node} is longer than 24 days` });
    return;
  }
  if (!node || typeof node !== 'object') return;
  const step = steps[at];
  if (step === '[]') {
    if (Array.isArray(node)) node.forEach((item, i) => visitDurations(item, steps, at + 1, `${path}[${i}]`, errors));
  } else if (step === '*') {
    for (const key of Object.keys(node)) visitDurations((node as Record<string, unknown>)[key], steps, at + 1, `${path}.${key}`, errors);
  } else if (Object.hasOwn(node, step)) {
    visitDurations((node as Record<string, unknown>)[step], steps, at + 1, path ? `${path}.${step}` : step, errors);
  }
}
