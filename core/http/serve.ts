// Listening and closing the mesh's HTTP servers: hardened parser settings, a JSON answer to bad framing,
// the bound port logged, and graceful close (stop accepting, finish in-flight, drop idle keep-alives).
import http from 'node:http';
import type { Server as NetServer, Socket, AddressInfo } from 'node:net';
import { errorBody, MeshError } from '../errors.js';
import type { Logger } from '../telemetry/log.js';

export interface HttpLimits {
  /** Bytes of request headers (431 beyond). */
  maxHeaderSize: number;
  /** Time to receive the whole request head (slow-loris bound). */
  headersTimeoutMs: number;
  /** Time to receive the whole request. */
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Requests served on one connection before it is closed. */
  maxRequestsPerSocket: number;
  /** Header fields per request (the edge answers 431 beyond; node would silently drop the rest). */
  maxHeaderCount: number;
}

export const DEFAULT_LIMITS: HttpLimits = {
  maxHeaderSize: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxRequestsPerSocket: 10_000,
  maxHeaderCount: 100,
};

export function serverOptions(limits: HttpLimits = DEFAULT_LIMITS): http.ServerOptions {
  return {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often node looks for connections past headersTimeout/requestTimeout (its default, 30 s, lets a
    // slow-loris client hold a socket far longer than the limits say).
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
    requireHostHeader: true,
    joinDuplicateHeaders: false,
    insecureHTTPParser: false,
  };
}

/** Limits that are server properties rather than constructor options. */
export function applyLimits(server: http.Server, limits: HttpLimits = DEFAULT_LIMITS): void {
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  // Node answers the last allowed request with "Connection: close" but leaves the socket open (and answers
  // more pipelined requests 503): close it ourselves once that response is out.
  const served = new WeakMap<object, number>();
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const n = (served.get(req.socket) ?? 0) + 1;
    served.set(req.socket, n);
    if (n >= limits.maxRequestsPerSocket) res.once('finish', () => req.socket.end());
  });
  // One past the limit, so the edge sees that the limit was crossed (node truncates, it does not refuse).
  server.maxHeadersCount = limits.maxHeaderCount + 1;
}

/** Sockets whose current request was refused for its framing: whatever follows on them is never answered. */
const refusedSockets = new WeakSet<object>();

/** Mark a connection as done: its refusal is the last response (bytes after it are not parsed into answers). */
export function refuseConnection(socket: object): void {
  refusedSockets.add(socket);
}

/** Parser-level rejections (ambiguous framing, bad header bytes, oversize heads) get a JSON 4xx and a closed socket. */
export function answerClientErrors(server: NetServer, log: Logger): void {
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
    if (!socket.writable || (err.code === 'ECONNRESET')) {
      socket.destroy();
      return;
    }
    if (refusedSockets.has(socket)) {
      // The refusal already written is the last response; close once it is flushed.
      socket.end();
      return;
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const error = tooLarge
      ? new MeshError('headers_too_large')
      : timeout
        ? new MeshError('bad_request', 'The request was not received in time.')
        : new MeshError('bad_request', 'The request framing or headers are malformed.');
    const status = timeout ? 408 : error.status;
    const body = errorBody(error, '');
    log.debug({ code: err.code, status }, 'refused malformed request');
    socket.end(rawErrorResponse(status, body));
  });
}

/** A complete HTTP/1.1 JSON error response for a raw socket (parser errors, refused upgrades); closes after. */
export function rawErrorResponse(status: number, body: string, headers: Record<string, string> = {}): string {
  let extra = '';
  for (const name in headers) extra += `${name}: ${headers[name]}\r\n`;
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`;
}

export async function listen(server: NetServer, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Stop accepting, let in-flight requests finish within `graceMs`, then cut what is left. */
export async function closeGracefully(server: http.Server, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  timer.unref();
  // Keep-alive sockets that become idle after their last response must go too.
  const sweep = setInterval(() => server.closeIdleConnections(), 100);
  sweep.unref();
  await closed;
  clearTimeout(timer);
  clearInterval(sweep);
}
