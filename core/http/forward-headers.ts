// Build the header set sent upstream: the client's headers re-serialized without hop-by-hop,
// Connection-listed or mesh-only headers (the forwarded request is never passed through raw).
import type { IncomingHttpHeaders } from 'node:http';
import { HOP_BY_HOP, connectionListed } from './hop-headers.js';
import { isMeshOnlyHeader } from './strip-identity-headers.js';
import type { HeaderValue } from '../pipeline/exchange.js';

export function forwardableHeaders(incoming: IncomingHttpHeaders): Record<string, HeaderValue> {
  const listed = connectionListed(incoming.connection);
  const out: Record<string, HeaderValue> = {};
  for (const name in incoming) {
    if (HOP_BY_HOP.has(name) || isMeshOnlyHeader(name) || (listed && listed.has(name))) continue;
    // Expect: 100-continue was answered on the client's connection (node's server sends the 100 itself, other
    // expectations get 417); the body is already on its way, so the upstream is not asked again (Envoy and nginx
    // drop it too, and undici refuses to send it).
    if (name === 'expect') continue;
    // HTTP/2 pseudo-headers never appear here from node:http; guard anyway for the compat API.
    if (name.charCodeAt(0) === 58 /* : */) continue;
    const value = incoming[name];
    if (value !== undefined) out[name] = value;
  }
  // RFC 9110 §7.6.1: TE "trailers" is the one hop-by-hop value a proxy may pass (gRPC needs it).
  if (typeof incoming.te === 'string' && incoming.te.toLowerCase().includes('trailers')) out.te = 'trailers';
  // RFC 9113 §8.3.1: an HTTP/2 request forwarded as HTTP/1.1 gets a Host copied from :authority.
  const authority = incoming[':authority'];
  if (out.host === undefined && typeof authority === 'string') out.host = authority;
  return out;
}

/** Response headers from upstream, minus hop-by-hop ones. */
export function forwardableResponseHeaders(incoming: Record<string, HeaderValue | undefined>): Record<string, HeaderValue> {
  const listed = connectionListed(incoming.connection);
  const out: Record<string, HeaderValue> = {};
  for (const name in incoming) {
    if (HOP_BY_HOP.has(name) || (listed && listed.has(name))) continue;
    const value = incoming[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
