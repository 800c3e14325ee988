// undici connection pools, one per upstream origin, kept alive across requests and config reloads.
import { Pool } from 'undici';
import { PassThrough, type Readable } from 'node:stream';
import type { Exchange } from '../pipeline/exchange.js';
import { bodyKind } from '../http/request-body.js';
import { parseDuration } from '../config/duration.js';
import type { ServiceConfig } from '../config/schema.js';
import { DispatchedResponse } from './dispatched-response.js';
import { clientGone, upstreamError, type Upstream, type UpstreamResponse } from './upstream.js';

export interface PoolOptions {
  /** Max connections per origin unless the service's connectionPool says otherwise. */
  connections?: number;
  keepAliveTimeoutMs?: number;
  connectTimeoutMs?: number;
}


export class PoolSet {
  private readonly pools = new Map<string, Pool>();
  private readonly closers = new Set<() => void>();

  constructor(private readonly options: PoolOptions = {}) {}

  /** `address` is host:port; the service's connectionPool and connect timeout apply when the pool is created. */
  get(address: string, service?: ServiceConfig): Pool {
    let pool = this.pools.get(address);
    if (!pool) {
      const connect = service?.timeouts?.connect;
      pool = new Pool(`http://${address}`, {
        connections: service?.connectionPool?.maxConnections ?? this.options.connections ?? 128,
        keepAliveTimeout: this.options.keepAliveTimeoutMs ?? 30_000,
        connect: { timeout: connect ? parseDuration(connect) : (this.options.connectTimeoutMs ?? 2_000) },
        pipelining: 1,
      });
      this.pools.set(address, pool);
    }
    return pool;
  }

  /** Pending + running requests on one origin's pool. */
  load(address: string): number {
    const stats = this.pools.get(address)?.stats;
    return stats ? stats.pending + stats.running : 0;
  }

  /** Work that lives as long as the pools (health checks) stops when they close. */
  onClose(stop: () => void): void {
    this.closers.add(stop);
  }

  async close(): Promise<void> {
    for (const stop of this.closers) stop();
    this.closers.clear();
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => p.destroy())));
    this.pools.clear();
  }
}

/** Request bodies the retry layer read into memory (within its size limit) so a retry can send them again. */
export const bufferedBodies = new WeakMap<Exchange, Buffer>();

/** Request bodies a stage wrapped to watch while streaming (the edge's byte-counting body limit). */
export const streamedBodies = new WeakMap<Exchange, Readable>();

function requestBody(x: Exchange): Readable | Buffer | null {
  const buffered = bufferedBodies.get(x) ?? streamedBodies.get(x);
  if (buffered) return buffered;
  if (bodyKind(x.req) === 'none') return null;
  // undici destroys the body stream it was given when the response completes before the body was sent (an app that
  // answers a large upload early). Given the client's own request, that destroyed the client's connection mid-upload,
  // where nginx and node keep it and read the rest away (the listener does, once the response is out). A client that
  // goes away still cancels the call: the listener cuts the try in flight. The client's body starts flowing only
  // when undici reads it, once connected: a refused connection leaves it whole, so the retry layer may send it again.
  const body = new PassThrough();
  body.once('resume', () => x.req.pipe(body));
  return body;
}

/**
 * The innermost upstream: one request on the pool of `x.upstreamAddress`, bounded by the remaining deadline
 * (and the per-try timeout the deadline layer stamped in `x.perTryTimeoutMs`).
 */
export function poolUpstream(pools: PoolSet): Upstream {
  return (x: Exchange): Promise<UpstreamResponse> => {
    if (x.clientGone) return Promise.reject(clientGone());
    const remaining = x.remainingMs();
    const limit = Math.min(remaining, x.perTryTimeoutMs);
    const timeout = Number.isFinite(limit) ? Math.max(1, Math.floor(limit)) : 300_000;
    const address = x.upstreamAddress;
    // The wait for the head is timed by the handler on a native timer. undici's headersTimeout runs on its fast
    // timers, which tick every ~0.5 s and fire up to that much late or early (a 1 s deadline gave 504s after
    // 517 ms, a 100 ms one let a 461 ms answer through). bodyTimeout stays undici's: the longest silence between two
    // chunks of a body, as nginx's proxy_read_timeout and Kong's read_timeout (a body may take longer in all).
    const handler = new DispatchedResponse(address, timeout);
    x.inflight = handler;
    try {
      pools.get(address, x.snapshot?.services.get(x.service)).dispatch(
        {
          path: x.upstreamPath + x.query,
          method: x.method as 'GET',
          headers: x.upstreamHeaders,
          body: requestBody(x),
          headersTimeout: 0,
          bodyTimeout: timeout,
        },
        handler,
      );
    } catch (err) {
      return Promise.reject(upstreamError(err, address));
    }
    return handler.response;
  };
}
