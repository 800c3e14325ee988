// The demo upstream apps of the embedded mesh: echo (describes the request it got), inventory, and orders
// (which calls inventory east-west through its own sidecar's outbound listener).
import http from 'node:http';
import { request } from 'undici';
import { listen } from '../../core/http/serve.js';

export interface DemoApp {
  port: number;
  close(): Promise<void>;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function serve(host: string, handler: http.RequestListener, listenPort = 0): Promise<DemoApp> {
  const server = http.createServer({ keepAliveTimeout: 65_000 }, handler);
  const port = await listen(server, listenPort, host);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Answers with JSON describing the request it received (method, path, query, headers). */
export function startEcho(host = '127.0.0.1', port = 0): Promise<DemoApp> {
  return serve(host, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://echo');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 64 * 1024) chunks.push(c);
    });
    req.on('end', () =>
      json(res, 200, {
        service: 'echo',
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        bodyBytes: size,
      }),
    );
  }, port);
}

const ITEMS = [
  { sku: 'tea-01', name: 'Green tea', stock: 42 },
  { sku: 'cup-07', name: 'Porcelain cup', stock: 7 },
];

export function startInventory(host = '127.0.0.1', port = 0): Promise<DemoApp> {
  return serve(host, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/items' || path === '/') return json(res, 200, { service: 'inventory', items: ITEMS, subject: req.headers['x-auth-subject'] });
    json(res, 404, { error: 'not found' });
  }, port);
}

/** The headers an app passes on so the mesh keeps one trace, one request id and one deadline. */
const PROPAGATE = ['authorization', 'traceparent', 'tracestate', 'x-request-id', 'x-request-timeout-ms'];

/** Orders calls inventory through `outbound()` (its sidecar's outbound listener, host:port). */
export function startOrders(outbound: () => string, host = '127.0.0.1', port = 0): Promise<DemoApp> {
  return serve(host, async (req, res) => {
    const headers: Record<string, string> = {};
    for (const name of PROPAGATE) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    try {
      const upstream = await request(`http://${outbound()}/inventory/items`, { headers });
      const inventory = (await upstream.body.json()) as Record<string, unknown>;
      if (upstream.statusCode !== 200) return json(res, upstream.statusCode, { service: 'orders', inventoryError: inventory });
      json(res, 200, {
        service: 'orders',
        subject: req.headers['x-auth-subject'],
        orders: [{ id: 'o-1001', sku: 'tea-01', quantity: 2 }],
        inventory,
      });
    } catch (err) {
      json(res, 502, { service: 'orders', error: (err as Error).message });
    }
  }, port);
}
