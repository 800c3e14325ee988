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
}

export const DEFAULT_LIMITS: HttpLimits = {
  maxHeaderSize: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxRequestsPerSocket: 10_000,
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
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
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
