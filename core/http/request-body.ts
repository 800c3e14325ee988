// Whether a client's request carries a body, from its framing alone (the body itself is not touched).
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';

/**
 * `sized` (Content-Length), `streamed` (chunked, or HTTP/2 DATA without Content-Length) or `none` (RFC 9112 §6.3;
 * RFC 9113 §8.1: an HTTP/2 request has a body unless its HEADERS frame ended the stream). A streamed body is
 * forwarded as it arrives and never replayed.
 */
export function bodyKind(req: IncomingMessage): 'none' | 'sized' | 'streamed' {
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined) return 'streamed';
  if (h['content-length'] !== undefined) return h['content-length'] === '0' ? 'none' : 'sized';
  if (req.httpVersionMajor === 2) return (req as unknown as Http2ServerRequest).stream.endAfterHeaders ? 'none' : 'streamed';
  return 'none';
}
