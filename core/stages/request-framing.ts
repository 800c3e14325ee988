// accept phase (edge and sidecar listeners): framing checks llhttp leaves to us (RFC 9112). llhttp in strict
// mode already refuses CL+TE, duplicate or invalid Content-Length, bad header bytes, bare LF and obs-fold (answered
// 400 + close by core/http/serve.ts); here: no Host or more than one (§3.2), Transfer-Encoding on HTTP/1.0 (§6.1),
// and an absolute-form target whose authority differs from Host (§3.2.2), so no two hops disagree on the request.
import { MeshError } from '../errors.js';
import type { StageDef } from '../pipeline/stage.js';
import type { Exchange } from '../pipeline/exchange.js';
import { refuseConnection } from '../http/serve.js';

const ABSOLUTE = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)/;

/** An authority without its scheme's default port (`a:80` is `a` for http): the same origin either way. */
function origin(authority: string, scheme: string): string {
  const lower = authority.toLowerCase();
  const port = scheme === 'https' ? ':443' : scheme === 'http' ? ':80' : '';
  return port && lower.endsWith(port) ? lower.slice(0, -port.length) : lower;
}

export interface FramingDeps {
  /**
   * Header fields per request, over HTTP/1.1 and HTTP/2 alike; more is 431 (the listener lets one extra through to
   * show it). The edge sets it;
   * a sidecar does not count (the edge adds its own headers to what it let through; node's limit applies).
   */
  maxHeaderCount?: number;
}

/** Header fields of a request: over HTTP/2 its pseudo-headers (:method, :path…) are not fields. */
function fieldCount(raw: string[], major: number): number {
  if (major === 1) return raw.length / 2;
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].charCodeAt(0) !== 58 /* : */) n++;
  return n;
}

export const requestFraming: StageDef<FramingDeps> = {
  name: 'request-framing',
  phase: 'accept',
  build({ deps }) {
    const maxHeaders = deps.maxHeaderCount ?? Infinity;
    const refuse = (x: Exchange, message: string) => {
      refuseConnection(x.req.socket);
      return new MeshError('bad_request', message);
    };
    return {
      name: 'request-framing',
      request(x) {
        const req = x.req;
        const raw = req.rawHeaders;
        if (raw.length / 2 > maxHeaders && fieldCount(raw, req.httpVersionMajor) > maxHeaders)
          return new MeshError('headers_too_large', `More than ${maxHeaders} header fields.`);
        if (req.httpVersionMajor !== 1) return undefined; // HTTP/2 framing is checked by nghttp2 (RFC 9113 §8.2)
        let hosts = 0;
        for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 4 && raw[i].toLowerCase() === 'host') hosts++;
        if (hosts > 1) return refuse(x, 'More than one Host header.');
        if (hosts === 0 && req.httpVersionMinor === 1) return refuse(x, 'HTTP/1.1 requires a Host header.');
        if (req.httpVersionMinor === 0 && req.headers['transfer-encoding'] !== undefined)
          return refuse(x, 'Transfer-Encoding is not allowed in HTTP/1.0.');
        const url = req.url ?? '';
        if (url.charCodeAt(0) !== 47 /* / */) {
          const m = ABSOLUTE.exec(url);
          const scheme = m?.[1].toLowerCase() ?? '';
          if (m && origin(m[2], scheme) !== origin(req.headers.host ?? '', scheme))
            return refuse(x, 'The request target\'s authority differs from Host.');
        }
        return undefined;
      },
    };
  },
};
