// Request-target normalization (RFC 3986 §6.2.2): percent-decode unreserved, uppercase escapes, remove dot
// segments (§5.2.4), optionally merge slashes. The normalized path is what is matched AND what is forwarded.

export interface NormalizeOptions {
  /** Collapse "//" to "/" (Envoy's merge_slashes). */
  mergeSlashes: boolean;
  /** %2F / %5C in a path: refuse the request, or keep them escaped (never decoded into separators). */
  escapedSlashes: 'reject' | 'keep';
}

export const DEFAULT_NORMALIZE: NormalizeOptions = { mergeSlashes: false, escapedSlashes: 'keep' };

export type Normalized = { path: string; query: string } | { error: string };

const HEX = '0123456789ABCDEF';
/** pchar (RFC 3986 §3.3) plus "/", without "%" (handled separately). */
const PLAIN = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;
const UNRESERVED = /[A-Za-z0-9\-._~]/;

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

/** Split a request-target into normalized path and raw query ("" or "?..."). */
export function normalizeTarget(target: string, options: NormalizeOptions = DEFAULT_NORMALIZE): Normalized {
  if (target.length === 0) return { error: 'empty request target' };
  // absolute-form (RFC 9112 §3.2.2): keep only the path and query.
  if (target.charCodeAt(0) !== 47 /* / */) {
    const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*(.*)$/.exec(target);
    if (!m) return { error: 'request target is not origin-form' };
    target = m[1] || '/';
  }
  const q = target.indexOf('?');
  let path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);
  if (query.includes('#')) return { error: 'fragment in request target' };
  // Fast path: nothing to decode, no dot segments, no empty segments.
  if (PLAIN.test(path) && !path.includes('/.') && !path.includes('//')) return { path, query };
  if (path.includes('\\')) return { error: 'backslash in path' };
  if (path.includes('%')) {
    let out = '';
    for (let i = 0; i < path.length; i++) {
      const c = path[i];
      if (c !== '%') {
        out += c;
        continue;
      }
      const hi = hexValue(path.charCodeAt(i + 1));
      const lo = hexValue(path.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return { error: 'invalid percent-encoding in path' };
      const code = hi * 16 + lo;
      const ch = String.fromCharCode(code);
      if (code < 0x80 && UNRESERVED.test(ch)) out += ch;
      else if ((code === 0x2f || code === 0x5c) && options.escapedSlashes === 'reject')
        return { error: 'encoded slash or backslash in path' };
      else if (code === 0) return { error: 'encoded NUL in path' };
      else out += `%${HEX[hi]}${HEX[lo]}`;
      i += 2;
    }
    path = out;
  }
  if (!/^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/.test(path)) return { error: 'invalid character in path' };
  // "..;x" is no dot segment to RFC 3986, but Java servlet containers strip the ";x" and then step up: routed under
  // one prefix, "/public/..;/admin" would reach the app's /admin past that route's auth.
  if (/(^|\/)\.\.?;/.test(path)) return { error: 'dot segment with parameters in path' };
  if (options.mergeSlashes) path = path.replace(/\/{2,}/g, '/');
  return { path: removeDotSegments(path), query };
}

/** RFC 3986 §5.2.4, on an absolute path. */
export function removeDotSegments(path: string): string {
  if (!path.includes('.')) return path;
  const input = path.split('/');
  const output: string[] = [];
  for (let i = 1; i < input.length; i++) {
    const segment = input[i];
    const last = i === input.length - 1;
    if (segment === '.') {
      if (last) output.push('');
    } else if (segment === '..') {
      output.pop();
      if (last) output.push('');
    } else output.push(segment);
  }
  return `/${output.join('/')}`;
}
