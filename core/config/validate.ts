// Validate a config document: schema first, then cross-references; every error with its field path. Apart from
// the YAML reader (load.ts), so the nodes that only validate snapshots from the store do not load a YAML parser.
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { MeshConfig } from './schema.js';
import { parseDuration } from './duration.js';

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
    super(`${source}: ${errors.length} error(s): ${errors.map((e) => formatError(e)).join('; ')}`);
    this.name = 'ConfigInvalidError';
  }
}

const checker = TypeCompiler.Compile(MeshConfig);

export function formatError(error: ConfigError, file?: string): string {
  const where = file ? `${file}${error.line ? `:${error.line}` : ''}: ` : error.line ? `line ${error.line}: ` : '';
  return `${where}${error.path || '(root)'}: ${error.message}`;
}

/** JSON-pointer segments → "routes[0].matches[0].path". */
export function fieldPath(segments: (string | number)[]): string {
  let out = '';
  for (const s of segments) out += typeof s === 'number' || /^[0-9]+$/.test(String(s)) ? `[${s}]` : out ? `.${s}` : String(s);
  return out;
}

function pointerSegments(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** "Expected union value" says nothing; name the allowed values when the union is of literals. */
function friendlyMessage(schema: { anyOf?: { const?: unknown }[]; pattern?: string; description?: string }, message: string): string {
  const options = schema.anyOf?.map((s) => s.const).filter((c) => c !== undefined);
  if (options && options.length && options.length === schema.anyOf!.length) return `must be one of: ${options.join(', ')}`;
  const text = message.replace(/^Expected /, 'expected ');
  // A pattern alone tells a reader little; the schema's description says what it stands for.
  return schema.pattern && schema.description ? `${text} (${schema.description})` : text;
}

/** Validate a parsed document. Returns the typed config or every error found. */
export function validateConfig(value: unknown): { config?: MeshConfig; errors: ConfigError[] } {
  // Check() is the compiled fast path; the error walk (several times slower) runs only for a document that fails.
  if (checker.Check(value)) {
    const config = value as MeshConfig;
    const errors = crossCheck(config);
    return errors.length ? { errors } : { config, errors };
  }
  const errors: ConfigError[] = [];
  const seen = new Set<string>();
  for (const e of checker.Errors(value)) {
    const path = fieldPath(pointerSegments(e.path));
    // A union reports once per branch; one line per field is what a reader needs.
    if (seen.has(path)) continue;
    seen.add(path);
    errors.push({ path, message: friendlyMessage(e.schema as { anyOf?: { const?: unknown }[] }, e.message) });
  }
  return { errors };
}

/** What the schema cannot say: unique names, references that resolve, durations in range. */
function crossCheck(config: MeshConfig): ConfigError[] {
  const errors: ConfigError[] = [];
  const services = new Set<string>();
  config.services.forEach((s, i) => {
    if (services.has(s.name)) errors.push({ path: `services[${i}].name`, message: `duplicate service name "${s.name}"` });
    services.add(s.name);
    checkDurations(s, [`services[${i}]`], errors);
  });
  const authPolicies = config.policies?.auth ?? {};
  const quotaPolicies = config.policies?.quota ?? {};
  const routes = new Set<string>();
  config.routes.forEach((r, i) => {
    const at = `routes[${i}]`;
    if (routes.has(r.name)) errors.push({ path: `${at}.name`, message: `duplicate route name "${r.name}"` });
    routes.add(r.name);
    r.backendRefs.forEach((b, j) => {
      if (!services.has(b.name)) errors.push({ path: `${at}.backendRefs[${j}].name`, message: `unknown service "${b.name}"` });
    });
    if (typeof r.auth === 'string' && !(r.auth in authPolicies))
      errors.push({ path: `${at}.auth`, message: `unknown auth policy "${r.auth}" (define it under policies.auth)` });
    r.quota?.forEach((q, j) => {
      if (typeof q === 'string' && !(q in quotaPolicies))
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
    checkDurations(r, [at], errors);
  });
  return errors;
}

const DURATION_LIKE = /^([0-9]+(h|m|s|ms))+$/;
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Walk an object for duration-looking fields and make sure each parses and fits a 32-bit timer. Runs on every
 * snapshot a node receives: the path is kept as a stack of segments and joined only for an error.
 */
function checkDurations(node: unknown, segments: string[], errors: ConfigError[]): void {
  if (!node || typeof node !== 'object') return;
  const isArray = Array.isArray(node);
  for (const k in node) {
    const v = (node as Record<string, unknown>)[k];
    if (typeof v === 'string') {
      if (k === 'name' || k === 'value' || !DURATION_LIKE.test(v) || parseDuration(v) <= MAX_TIMER_MS) continue;
      errors.push({ path: [...segments, isArray ? `[${k}]` : `.${k}`].join(''), message: `duration ${v} is longer than 24 days` });
    } else if (v && typeof v === 'object') {
      segments.push(isArray ? `[${k}]` : `.${k}`);
      checkDurations(v, segments, errors);
      segments.pop();
    }
  }
}
