// What an app answers, the client gets, through edge → sidecar → app on real sockets: a 304 or 204 whose head
// carries a Content-Length (RFC 9110 §8.6 allows it on a 304) is delivered, not cut; a body shorter than its
// Content-Length still ends in a cut connection, never in a made-up complete response.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startEdgeMesh, rawExchange, type EdgeMesh } from '../support/edge-mesh.js';
import type { RouteConfig } from '../../core/config/schema.js';

/** Raw answers by request path: what no Node server would write, but real apps do. */
const ANSWERS: Record<string, string> = {
  '/raw/304-with-length': 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 1234\r\n\r\n',
  '/raw/204-with-length': 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n',
  '/raw/short-body': 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this',
};

let mesh: EdgeMesh;
let app: net.Server;
before(async () => {
  app = net.createServer((socket) => {
    socket.on('error', () => undefined);
    let head = '';
    socket.on('data', (d) => {
      head += d.toString('latin1');
      for (let end = head.indexOf('\r\n\r\n'); end !== -1; end = head.indexOf('\r\n\r\n')) {
        const path = head.split(' ')[1];
        head = head.slice(end + 4);
        socket.write(ANSWERS[path] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
        if (path === '/raw/short-body') socket.end();
      }
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const routes = [{ name: 'raw', matches: [{ path: { type: 'PathPrefix', value: '/raw' } }], backendRefs: [{ name: 'raw' }] }] as RouteConfig[];
  mesh = await startEdgeMesh({ services: ['raw'], routes, appPorts: { raw: (app.address() as net.AddressInfo).port } });
});
after(async () => {
  await mesh?.close();
  app?.close();
});

for (const [name, port] of [['edge', () => mesh.edge.httpPort], ['sidecar', () => mesh.sidecars.raw.inboundPort]] as const) {
  test(`${name}: a 304 with the representation's Content-Length reaches the client as a 304`, async () => {
    const answer = await rawExchange(port(), 'GET /raw/304-with-length HTTP/1.1\r\nHost: a\r\nIf-None-Match: "v1"\r\nConnection: close\r\n\r\n');
    assert.equal(answer.status, 304, answer.text);
    assert.match(answer.text, /etag: "v1"/i);
    assert.ok(answer.text.endsWith('\r\n\r\n'), `no body after the head: ${JSON.stringify(answer.text)}`);
  });

  test(`${name}: a 204 with a Content-Length reaches the client as a 204`, async () => {
    const answer = await rawExchange(port(), 'GET /raw/204-with-length HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.equal(answer.status, 204, answer.text);
  });

  test(`${name}: a body shorter than its Content-Length is cut, not completed`, async () => {
    const answer = await rawExchange(port(), 'GET /raw/short-body HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.closed, true, 'the connection is closed: the client can tell the body is short');
    assert.match(answer.text, /content-length: 100/i);
    assert.ok(answer.text.endsWith('only this'), JSON.stringify(answer.text));
  });
}
