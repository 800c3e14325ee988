// Exchanges for unit tests of upstream layers: a compiled one-route snapshot (service and route config as given)
// and an Exchange over a fake request, routed to that service with a deadline.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { compileConfig, type CompiledSnapshot } from '../../core/config/compile.js';
import type { MeshConfig, RouteConfig, ServiceConfig } from '../../core/config/schema.js';
import { Exchange } from '../../core/pipeline/exchange.js';
import type { UpstreamResponse } from '../../core/upstream/upstream.js';

export function layerSnapshot(service: Partial<ServiceConfig> = {}, route: Partial<RouteConfig> = {}): CompiledSnapshot {
  const config = {
    apiVersion: 'meshgate/v1',
    services: [{ name: 'svc', ...service }],
    routes: [{ name: 'r', matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'svc' }], ...route }],
  } as MeshConfig;
  return compileConfig(config, { version: 1, digest: 'test' });
}

export interface ExchangeOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Request body (a stream the retry layer may buffer). */
  body?: string;
  /** ms from now until the deadline (Infinity = none). */
  budgetMs?: number;
}

export function layerExchange(snapshot: CompiledSnapshot, o: ExchangeOptions = {}): Exchange {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.body !== undefined && headers['transfer-encoding'] === undefined) headers['content-length'] = String(Buffer.byteLength(o.body));
  const req = Object.assign(Readable.from(o.body === undefined ? [] : [Buffer.from(o.body)]), {
    method: o.method ?? 'GET',
    url: '/',
    headers,
    socket: { remoteAddress: '127.0.0.1' },
  }) as unknown as IncomingMessage;
  const x = new Exchange(req, {} as ServerResponse, 'test');
  x.method = o.method ?? 'GET';
  x.snapshot = snapshot;
  x.route = snapshot.routes[0];
  x.service = 'svc';
  x.deadlineAt = o.budgetMs === undefined ? Infinity : x.startedAt + o.budgetMs;
  return x;
}

/** An upstream answer whose body is already in memory; `dumped` tells whether a layer threw it away. */
export function response(status: number, body = ''): UpstreamResponse & { body: { dumped: boolean } } {
  const chunk = Buffer.from(body);
  return {
    status,
    headers: {},
    body: {
      dumped: false,
      pipeTo(sink, done) {
        if (chunk.length) sink.write(chunk);
        sink.end();
        done();
      },
      dump() {
        this.dumped = true;
      },
      destroy() {},
    },
  };
}
