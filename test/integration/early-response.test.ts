// An app that answers before it has read the request body (a 401 or 413 before a large upload, which real apps do):
// the mesh forwards the answer, reads the rest of the body away and keeps the connection, as node and nginx do.
// Before, the edge destroyed the client's connection mid-upload (undici destroys the body stream it was given when
// the response completes first, and that stream was the client's request), and the sidecar left the rest unread, so
// the next request on the connection stalled; through the edge's pooled connection to a sidecar, other clients'
// requests stalled and failed with 502.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEdgeMesh, rawExchange, type EdgeMesh } from '../support/edge-mesh.js';
import type { RouteConfig } from '../../core/config/schema.js';

const BODY = Buffer.alloc(8 * 1024 * 1024, 120);

let mesh: EdgeMesh;
let app: http.Server;
before(async () => {
  app = http.createServer((req, res) => {
    if (req.url?.startsWith('/early')) return res.end('early'); // the body is never read
    req.resume();
    req.on('end', () => res.end('next'));
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const routes = [{ name: 'up', matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'up' }] }] as RouteConfig[];
  mesh = await startEdgeMesh({ services: ['up'], routes, appPorts: { up: (app.address() as AddressInfo).port } });
});
after(async () => {
  await mesh?.close();
  app?.close();
});

for (const [name, port] of [['edge', () => mesh.edge.httpPort], ['sidecar', () => mesh.sidecars.up.inboundPort]] as const) {
  test(`${name}: an answer before the upload was read keeps the connection: the next request on it is answered`, async () => {
    const head = `POST /early HTTP/1.1\r\nHost: a\r\nContent-Type: application/octet-stream\r\nContent-Length: ${BODY.length}\r\n\r\n`;
    const next = 'GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
    const answer = await rawExchange(port(), Buffer.concat([Buffer.from(head), BODY, Buffer.from(next)]), { boundMs: 15_000 });
    const statuses = [...answer.text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [200, 200], answer.text.slice(0, 400));
    assert.match(answer.text, /\r\n\r\nearly/);
    assert.ok(answer.text.endsWith('next'), answer.text.slice(-200));
    assert.equal(answer.closed, true, 'closed after the second answer (Connection: close), not cut before it');
  });
}
