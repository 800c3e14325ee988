// The Node floor: the smallest honest reverse proxy on node:http + an undici keep-alive Pool (Pool.stream
// straight into the response). No routing, auth or logging: what any Node proxy pays before doing anything.
// Usage (a bench child): node --import tsx test/bench/bare-proxy.ts UPSTREAM_PORT
import http from 'node:http';
import { Pool } from 'undici';

const upstreamPort = Number(process.argv[2]);
const pool = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: 128, pipelining: 1, keepAliveTimeout: 30_000 });

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'proxy-connection', 'host']);

const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
  const headers: Record<string, string | string[]> = {};
  for (const name in req.headers) if (!HOP.has(name)) headers[name] = req.headers[name]!;
  pool
    .stream(
      { path: req.url ?? '/', method: req.method as 'GET', headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req },
      ({ statusCode, headers: upstreamHeaders }) => {
        const out: Record<string, string | string[]> = {};
        for (const name in upstreamHeaders) if (!HOP.has(name)) out[name] = upstreamHeaders[name]!;
        res.writeHead(statusCode, out);
        return res;
      },
    )
    .catch(() => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ type: 'ready', port: typeof address === 'object' && address ? address.port : 0 });
});
process.on('SIGTERM', () => {
  server.close();
  void pool.close().finally(() => process.exit(0));
});
