// The edge's drain delay: once closing, /readyz is 503 at once but both traffic ports keep accepting and serving
// (HTTP/1.1 answers say `connection: close`) until the delay is over, so a load balancer that still sends new
// connections is not refused; then the listeners close and the request in flight still completes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { request } from 'undici';
import type { RouteConfig } from '../../core/config/schema.js';
import { NO_ENDPOINTS } from '../../core/upstream/endpoints.js';
import { startEdge } from '../../edge/main.js';
import { startEdgeMesh, rawExchange, type EdgeMesh } from '../support/edge-mesh.js';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { waitFor } from '../support/wait-for.js';

const ROUTES = [
  { name: 'open', matches: [{ path: { type: 'PathPrefix', value: '/open' } }], backendRefs: [{ name: 'open' }] },
  { name: 'held', matches: [{ path: { type: 'PathPrefix', value: '/held' } }], backendRefs: [{ name: 'held' }] },
] as RouteConfig[];
/** Long enough for the checks made during it (a handful of local requests). */
const DRAIN_DELAY_MS = 2_000;

let held: FakeUpstream;
let mesh: EdgeMesh;

before(async () => {
  held = await startFakeUpstream('held', 'slow');
  mesh = await startEdgeMesh({ services: ['open', 'held'], routes: ROUTES, appPorts: { held: held.port } });
});

after(async () => {
  held?.release();
  await mesh?.close();
  await held?.close();
});

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(true));
  });
}

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`;

test('drain delay: readiness fails at once, new connections are served (connection: close) until the delay is over, then refused; the in-flight request completes', async () => {
  const edge = await startEdge({ store: mesh.store, endpoints: NO_ENDPOINTS, httpPort: 0, httpsPort: 0, adminPort: 0, stateDir: mesh.stateDir, graceMs: 5_000, drainDelayMs: DRAIN_DELAY_MS });
  await waitFor(async () => (await rawExchange(edge.httpPort, GET('/open/ready'))).status === 200, 'the edge to serve');
  const inFlight = request(`http://127.0.0.1:${edge.httpPort}/held/x`).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }));
  await held.waitForHeld(1);

  const closing = edge.close();
  const ready = await request(`http://127.0.0.1:${edge.adminPort}/readyz`);
  assert.equal(ready.statusCode, 503);
  assert.equal((JSON.parse(await ready.body.text()) as { draining: boolean }).draining, true);

  // During the delay: a new connection on either port is taken and served; HTTP/1.1 is told to go elsewhere next.
  const plain = await rawExchange(edge.httpPort, GET('/open/during-drain'));
  assert.equal(plain.status, 200, plain.text);
  assert.match(plain.text, /\r\nconnection: close\r\n/i);
  assert.ok(plain.closed, 'the edge closes the connection after its answer');
  const secure = await rawExchange(edge.httpsPort!, GET('/open/during-drain-tls'), { tls: { rejectUnauthorized: false } });
  assert.equal(secure.status, 200, secure.text);
  assert.match(secure.text, /\r\nconnection: close\r\n/i);

  // After it: no new connection, while the held request is still being served.
  await waitFor(() => refuses(edge.httpPort), 'the http listener to stop accepting');
  await waitFor(() => refuses(edge.httpsPort!), 'the https listener to stop accepting');
  assert.equal(held.held, 1);
  held.release();
  const res = await inFlight;
  assert.equal(res.status, 200, res.body);
  await closing;
});
