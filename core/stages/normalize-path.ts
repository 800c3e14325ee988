// normalize phase: parse the request target into the normalized path the route matches and the upstream gets.
import { MeshError } from '../errors.js';
import { DEFAULT_NORMALIZE, normalizeTarget, type NormalizeOptions } from '../http/normalize-path.js';
import type { StageDef } from '../pipeline/stage.js';

export interface NormalizeDeps {
  normalize?: NormalizeOptions;
}

const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]*)(:[0-9]{1,5})?$/;

export const normalizePath: StageDef<NormalizeDeps> = {
  name: 'normalize-path',
  phase: 'normalize',
  build({ deps }) {
    const options = deps.normalize ?? DEFAULT_NORMALIZE;
    return {
      name: 'normalize-path',
      request(x) {
        const n = normalizeTarget(x.req.url ?? '', options);
        if ('error' in n) return new MeshError('bad_request', `Invalid request target: ${n.error}.`);
        x.path = n.path;
        x.upstreamPath = n.path;
        x.query = n.query;
        const h2Authority = x.req.headers[':authority'] as string | undefined;
        const host = x.req.headers.host;
        // RFC 9113 §8.3.1: a Host naming another entity than :authority makes the request malformed; routing on
        // one while the app reads the other would let a client pick the app's virtual host past the route.
        if (h2Authority !== undefined && host !== undefined && h2Authority.toLowerCase() !== host.toLowerCase())
          return new MeshError('bad_request', 'The Host header differs from :authority.');
        const authority = h2Authority ?? host ?? '';
        const m = HOST.exec(authority);
        if (!m) return new MeshError('bad_request', 'Invalid Host header.');
        // "api.example.com." is the same name as "api.example.com" (an absolute DNS name): route them alike, or a
        // trailing dot would step past a hostnames-bound route to a catch-all (Envoy's strip_trailing_host_dot).
        const name = m[1].toLowerCase();
        x.host = name.length > 1 && name.endsWith('.') ? name.slice(0, -1) : name;
        return undefined;
      },
    };
  },
};
