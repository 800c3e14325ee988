// The admin listener every node has: /healthz (alive), /readyz (ready + detail), /metrics, /config.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { MeshError, errorBody } from '../errors.js';
import { registry } from '../telemetry/metrics.js';
import { logger } from '../telemetry/log.js';
import { answerClientErrors, serverOptions } from './serve.js';

export interface ReadyState {
  ready: boolean;
  detail?: Record<string, unknown>;
}

export interface AdminOptions {
  host?: string;
  port: number;
  /** Node role for logs: edge, sidecar, authz, quota, registry. */
  role: string;
  /** A cluster worker's answer comes from the primary (the node's readiness over all workers): it may be async. */
  ready: () => ReadyState | Promise<ReadyState>;
  /** What /config shows: version and digest of the snapshot served, never secrets. */
  config: () => unknown;
  /** What /metrics serves; default this process's registry (a cluster worker serves the sum over all workers). */
  metrics?: { contentType: string; metrics(): Promise<string> };
  /** Extra routes (e.g. the registry read API); return false to fall through to 404. */
  extra?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>;
}

export interface AdminServer {
  server: http.Server;
  port: number;
  close(): Promise<void>;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The mesh's JSON error, with a request id to quote as every other error has. */
function sendError(res: http.ServerResponse, err: MeshError, headers?: Record<string, string>): void {
  sendJson(res, err.status, errorBody(err, randomUUID()), headers);
}

const BUILT_IN = new Set(['/healthz', '/readyz', '/metrics', '/config']);

export async function startAdmin(options: AdminOptions): Promise<AdminServer> {
  const log = logger(`${options.role}-admin`);
  // The mesh's hardened parser settings (slow-loris bounds checked every second, not node's 30 s) and JSON answers to
  // bad framing: authz-svc's and the registry's APIs are served here, on ports operators reach over the network.
  const server = http.createServer(serverOptions(), async (req, res) => {
    try {
      const path = (req.url ?? '/').split('?')[0];
      // Read-only endpoints: a POST or DELETE answered as a GET would let a client believe it changed something.
      if (BUILT_IN.has(path) && req.method !== 'GET' && req.method !== 'HEAD')
        return sendError(res, new MeshError('method_not_allowed', `${path} accepts GET and HEAD.`), { allow: 'GET, HEAD' });
      if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
      if (path === '/readyz') {
        const state = await options.ready();
        return sendJson(res, state.ready ? 200 : 503, { status: state.ready ? 'ready' : 'not ready', ...state.detail });
      }
      if (path === '/metrics') {
        const metrics = options.metrics ?? registry;
        const text = await metrics.metrics();
        res.writeHead(200, { 'content-type': metrics.contentType });
        return res.end(text);
      }
      if (path === '/config') return sendJson(res, 200, options.config());
      if (options.extra && (await options.extra(req, res))) return;
      sendError(res, new MeshError('no_route', 'Unknown admin endpoint.'));
    } catch (err) {
      log.error({ err }, 'admin request failed');
      if (!res.headersSent) sendError(res, new MeshError('internal', 'admin endpoint failed'));
      else res.destroy();
    }
  });
  answerClientErrors(server, log, `${options.role}-admin`, { count: false });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ port, host: options.host ?? '127.0.0.1' }, 'admin listening');
  return {
    server,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
