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
    requireHostHeader: true,
    joinDuplicateHeaders: false,
    insecureHTTPParser: false,
  };
}

/** Limits that are server properties rather than constructor options. */
export function applyLimits(server: http.Server, limits: HttpLimits = DEFAULT_LIMITS): void {
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  // One past the limit, so the edge sees that the limit was crossed (node truncates, it does not refuse).
  server.maxHeadersCount = limits.maxHeaderCount + 1;
}

/** Parser-level rejections (ambiguous framing, bad header bytes, oversize heads) get a JSON 4xx and a closed socket. */
export function answerClientErrors(server: NetServer, log: Logger): void {
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
    if (!socket.writable || (err.code === 'ECONNRESET')) {
      socket.destroy();
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
