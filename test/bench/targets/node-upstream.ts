// Bench upstream when nginx is absent: a keep-alive node:http server answering 200 with a ~100-byte JSON body.
import http from 'node:http';
import { UPSTREAM_BODY } from '../upstream-body.js';

const body = Buffer.from(UPSTREAM_BODY);
const server = http.createServer({ keepAliveTimeout: 30_000 }, (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ type: 'ready', port: typeof address === 'object' && address ? address.port : 0 });
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
