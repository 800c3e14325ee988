// A closing node drains and then lets go: open WebSocket tunnels (plain and TLS), idle HTTP/2 sessions and idle
// HTTP/1.1 keep-alives on the edge's TLS port do not hold close() past its grace period. The HTTP/2 session gets
// a GOAWAY, the tunnels are cut at the end of the grace, the process can exit. The same for a sidecar's tunnels.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import WebSocket from 'ws';
import { startEdgeMesh, type EdgeMesh } from '../support/edge-mesh.js';
import type { RouteConfig } from '../../core/config/schema.js';

const ROUTES = [
  { name: 'chat', matches: [{ path: { type: 'PathPrefix', value: '/chat' } }], backendRefs: [{ name: 'chat' }], websocket: true },
] as RouteConfig[];
const GRACE_MS = 300;
/** Far above the grace: reaching it means close() hung on a connection. */
const HANG_BOUND_MS = 10_000;

let mesh: EdgeMesh;
before(async () => {
  mesh = await startEdgeMesh({ services: ['chat'], routes: ROUTES, edge: { httpsPort: 0, graceMs: GRACE_MS } });
});
after(async () => mesh?.close());

function openWs(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { rejectUnauthorized: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Fails if `close()` is still pending at HANG_BOUND_MS (a hang), without leaving the bound's timer behind. */
async function closesInTime(node: string, close: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    close().then(() => 'closed'),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve('hung'), HANG_BOUND_MS))),
  ]);
  clearTimeout(timer);
  assert.equal(outcome, 'closed', `${node}.close() still pending after ${HANG_BOUND_MS} ms`);
}

function echo(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (d) => resolve(String(d)));
    ws.send(text);
  });
}

test('close() ends within its grace although WebSockets, an HTTP/2 session and a TLS keep-alive are open', async () => {
  const edge = mesh.edge;
  const plain = await openWs(`ws://127.0.0.1:${edge.httpPort}/chat/a`);
  const secure = await openWs(`wss://127.0.0.1:${edge.httpsPort}/chat/b`);
  assert.equal(await echo(plain, 'one'), 'chat:one');
  assert.equal(await echo(secure, 'two'), 'chat:two');

  const session = http2.connect(`https://127.0.0.1:${edge.httpsPort}`, { rejectUnauthorized: false });
  const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
  const sessionClosed = new Promise<void>((resolve) => session.once('close', () => resolve()));
  session.on('error', () => {});
  const status = await new Promise<number>((resolve, reject) => {
    const req = session.request({ ':path': '/chat/x' });
    req.on('response', (h) => resolve(Number(h[':status'])));
    req.on('error', reject);
    req.resume();
  });
  assert.equal(status, 200);

  const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
  const keepAlive = await new Promise<import('node:net').Socket>((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port: edge.httpsPort!, path: '/chat/y', agent, ALPNProtocols: ['http/1.1'] } as https.RequestOptions, (res) => {
      const socket = res.socket;
      res.resume();
      res.once('end', () => resolve(socket));
    });
    req.on('error', reject);
  });
  const keepAliveClosed = new Promise<void>((resolve) => keepAlive.once('close', () => resolve()));
  const wsClosed = (ws: WebSocket) => new Promise<void>((resolve) => ws.once('close', () => resolve()));
  const [plainClosed, secureClosed] = [wsClosed(plain), wsClosed(secure)];

  const started = Date.now();
  await closesInTime('edge', () => edge.close());
  await Promise.all([goaway, sessionClosed, keepAliveClosed, plainClosed, secureClosed]);
  assert.ok(Date.now() - started >= GRACE_MS - 50, 'the tunnels were given the grace period before being cut');
  agent.destroy();
});

test('a sidecar closing with a WebSocket open to its app cuts the tunnel after its grace instead of hanging', async () => {
  const sidecar = mesh.sidecars.chat;
  const ws = await openWs(`ws://127.0.0.1:${sidecar.inboundPort}/chat/direct`);
  assert.equal(await echo(ws, 'three'), 'chat:three');
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  await closesInTime('sidecar', () => sidecar.close());
  await closed;
});
