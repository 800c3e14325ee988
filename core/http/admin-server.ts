// The admin listener every node has: /healthz (alive), /readyz (ready + detail), /metrics, /config.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { registry } from '../telemetry/metrics.js';
import { logger } from '../telemetry/log.js';

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

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startAdmin(options: AdminOptions): Promise<AdminServer> {
  const log = logger(`${options.role}-admin`);
  const server = http.createServer(async (req, res) => {
    try {
      const path = (req.url ?? '/').split('?')[0];
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
      sendJson(res, 404, { error: { code: 'no_route', message: 'Unknown admin endpoint.', requestId: '' } });
    } catch (err) {
      log.error({ err }, 'admin request failed');
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'internal', message: 'admin endpoint failed', requestId: '' } });
      else res.destroy();
    }
  });
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
