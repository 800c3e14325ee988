// gRPC callers read grpc-status, not a JSON body: the mesh's own refusals of a gRPC request are answered the gRPC
// way (HTTP 200, trailers-only, grpc-status and a percent-encoded grpc-message), per the gRPC HTTP/2 protocol spec.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import type { ErrorCode, MeshError } from '../errors.js';

/** gRPC status codes (grpc/doc/statuscodes.md) for each mesh error, after the gRPC HTTP-to-status mapping. */
const GRPC_STATUS = {
  bad_request: 13, // INTERNAL: a malformed request is a protocol error (HTTP 400 maps to INTERNAL)
  invalid_token: 16, // UNAUTHENTICATED
  insufficient_scope: 7, // PERMISSION_DENIED
  forbidden: 7,
  no_route: 12, // UNIMPLEMENTED: no route serves this method
  method_not_allowed: 12,
  request_timeout: 4, // DEADLINE_EXCEEDED
  payload_too_large: 8, // RESOURCE_EXHAUSTED, as grpc-js answers an oversized message
  rate_limited: 8,
  headers_too_large: 8,
  internal: 13, // INTERNAL
  upstream_failed: 14, // UNAVAILABLE: the caller may retry
  breaker_open: 14,
  no_endpoint: 14,
  overloaded: 14,
  not_ready: 14,
  auth_unavailable: 14,
  quota_unavailable: 14,
  deadline_exceeded: 4, // DEADLINE_EXCEEDED
  client_closed: 1, // CANCELLED (never sent: the caller is gone; recorded in spans)
} as const satisfies Record<ErrorCode, number>;

/** application/grpc and application/grpc+proto etc.; not grpc-web, whose status travels in the body. */
export function isGrpcContentType(contentType: unknown): boolean {
  return (
    typeof contentType === 'string' &&
    contentType.startsWith('application/grpc') &&
    (contentType.length === 16 || contentType.charCodeAt(16) === 43 /* + */ || contentType.charCodeAt(16) === 59 /* ; */)
  );
}

/** A gRPC call: HTTP/2 with a gRPC content type (gRPC has no HTTP/1.1 mapping to answer in). */
export function isGrpcRequest(req: IncomingMessage): boolean {
  return req.httpVersionMajor === 2 && isGrpcContentType(req.headers['content-type']);
}

/** grpc-message is percent-encoded: bytes outside printable ASCII, and '%' itself. */
export function grpcMessage(text: string): string {
  return text.replace(/[^\x20-\x24\x26-\x7e]/gu, (c) => encodeURIComponent(c));
}

/** The grpc-status and grpc-message fields that carry `err` to a gRPC caller. */
export function grpcStatusFields(err: MeshError): Record<string, string> {
  return { 'grpc-status': String(GRPC_STATUS[err.code]), 'grpc-message': grpcMessage(err.message) };
}

/** Answer `err` as a trailers-only gRPC response; `headers` (request id, WWW-Authenticate, RateLimit…) ride along. */
export function sendGrpcError(res: ServerResponse, err: MeshError, headers: Record<string, string | string[]>): void {
  const stream = (res as unknown as Http2ServerResponse).stream;
  if (stream.destroyed || stream.closed) return;
  stream.respond({ ...headers, ':status': 200, 'content-type': 'application/grpc', ...grpcStatusFields(err) }, { endStream: true });
}
