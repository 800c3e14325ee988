// WebSocket pass-through edge → sidecar → app: the upgrade is admitted only on `websocket: true` routes, the
// sidecar runs auth at upgrade (401 without a token), the normalized path is what the app sees, and messages
// echo both ways over the tunnel. Another Upgrade (h2c from `curl --http2`) is ignored and answered in HTTP/1.1.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { registry } from '../../core/telemetry/metrics.js';
import { initTracing } from '../../core/telemetry/tracing.js';
import { waitFor } from '../support/wait-for.js';
import { startEdgeMesh, rawExchange, type EdgeMesh } from '../support/edge-mesh.js';
import type { RouteConfig } from '../../core/config/schema.js';

const ROUTES = [
  { name: 'chat', matches: [{ path: { type: 'PathPrefix', value: '/chat' } }], backendRefs: [{ name: 'chat' }], websocket: true, auth: { required: true }, timeouts: { request: '10s' } },
  { name: 'plain', matches: [{ path: { type: 'PathPrefix', value: '/plain' } }], backendRefs: [{ name: 'chat' }] },
  { name: 'deny', matches: [{ path: { type: 'PathPrefix', value: '/deny' } }], backendRefs: [{ name: 'deny' }], websocket: true },
] as RouteConfig[];

// The OTel SDK and W3C propagator as the CLI sets them up (no exporter): trace ids are real.
initTracing({ serviceName: 'edge-websocket-test' });

let mesh: EdgeMesh;
/** An app that refuses every upgrade with a 403. */
let denying: http.Server;
before(async () => {
  denying = http.createServer((_req, res) => res.end());
  denying.on('upgrade', (_req, socket: Duplex) => socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n'));
  denying.listen(0, '127.0.0.1');
  await once(denying, 'listening');
  mesh = await startEdgeMesh({ services: ['chat', 'deny'], routes: ROUTES, auth: true, appPorts: { deny: (denying.address() as AddressInfo).port } });
});
after(async () => {
  await mesh?.close();
  denying?.close();
});

function open(path: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${mesh.edge.httpPort}${path}`, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`status ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

test('WebSocket echo through edge → sidecar → app with a token; the app sees the normalized path and identity', async () => {
  const token = await mesh.token();
  const ws = await open('/x/../chat/room', { authorization: `Bearer ${token}` });
  const replies: string[] = [];
  const got = new Promise<void>((resolve) => ws.on('message', (d) => replies.push(String(d)) === 2 && resolve()));
  ws.send('hello');
  ws.send('again');
  await got;
  assert.deepEqual(replies, ['chat:hello', 'chat:again']);
  const upgrade = mesh.apps.chat.received.at(-1)!;
  assert.equal(upgrade.url, '/chat/room');
  assert.equal(upgrade.headers['x-auth-subject'], 'tester');
  assert.equal(upgrade.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(upgrade.headers.authorization, `Bearer ${token}`);
  ws.close();
});

test('the upgrade carries the trace and the budget to the app: one trace through edge and sidecar', async () => {
  // Before: the tunnel skipped the forward stage, so the client's traceparent reached the app unchanged (edge and
  // sidecar spans were siblings, or two traces without one) and no x-request-timeout-ms was sent.
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const ws = await open('/chat/traced', { authorization: `Bearer ${await mesh.token()}`, traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
  const upgrade = mesh.apps.chat.received.at(-1)!;
  const sent = String(upgrade.headers.traceparent);
  assert.match(sent, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`), 'the same trace');
  assert.notEqual(sent.split('-')[2], '00f067aa0ba902b7', 'a parent of the mesh, not the client\'s span');
  assert.match(String(upgrade.headers['x-request-timeout-ms']), /^[0-9]+$/);
  ws.close();
});

test('an upgrade the app refuses is logged and counted with the app\'s status, not 101', async () => {
  const count = async () => {
    const text = await registry.getSingleMetricAsString('meshgate_requests_total');
    const line = text.split('\n').find((l) => l.includes('tier="edge",route="deny"') && l.includes('status_class="4xx"'));
    return Number(line?.split(' ').pop() ?? 0);
  };
  const before = await count();
  await assert.rejects(open('/deny/x'), (e: { status?: number }) => e.status === 403);
  await waitFor(async () => (await count()) === before + 1, 'the edge counts the 403');
});

test('the sidecar runs auth at upgrade: no token is 401 and the app never sees the upgrade', async () => {
  const before = mesh.apps.chat.received.length;
  await assert.rejects(open('/chat/room'), (err: { status?: number }) => err.status === 401);
  assert.equal(mesh.apps.chat.received.length, before);
});

test('an upgrade on a route without websocket: true is refused at the edge', async () => {
  const token = await mesh.token();
  const before = mesh.apps.chat.received.length;
  await assert.rejects(open('/plain/x', { authorization: `Bearer ${token}` }), (err: { status?: number }) => err.status === 400);
  assert.equal(mesh.apps.chat.received.length, before);
});

// What `curl --http2 http://…` sends: the edge ignores the h2c upgrade (RFC 9110 §7.8) and answers in HTTP/1.1.
const H2C = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n';

test('an Upgrade other than websocket is ignored: the request is answered in HTTP/1.1 through the chain, then the connection closes', async () => {
  const token = await mesh.token();
  const before = mesh.apps.chat.received.length;
  const served = await rawExchange(mesh.edge.httpPort, `GET /plain/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${token}\r\n${H2C}\r\n`);
  assert.equal(served.status, 200, served.text);
  assert.equal(served.closed, true, 'the connection closes after the one response');
  assert.match(served.text, /\r\nconnection: close\r\n/i);
  const got = mesh.apps.chat.received.at(-1)!;
  assert.equal(mesh.apps.chat.received.length, before + 1);
  assert.equal(got.url, '/plain/x');
  assert.equal(got.headers.upgrade, undefined, 'no Upgrade reaches the app');
  assert.equal(got.headers['http2-settings'], undefined, 'nor the Connection-listed HTTP2-Settings');
  // The chain ran: without a token the sidecar answers 401 and the app sees nothing; nothing is tunnelled.
  const refused = await rawExchange(mesh.edge.httpPort, `GET /chat/room HTTP/1.1\r\nHost: a\r\n${H2C}\r\n`);
  assert.equal(refused.status, 401, refused.text);
  assert.equal(mesh.apps.chat.received.length, before + 1);
  // With a body the socket's remaining bytes are no longer parsed: refused rather than guessed.
  const withBody = await rawExchange(mesh.edge.httpPort, `POST /plain/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${token}\r\nContent-Length: 2\r\n${H2C}\r\nhi`);
  assert.equal(withBody.status, 400, withBody.text);
  assert.equal(mesh.apps.chat.received.length, before + 1);
});
