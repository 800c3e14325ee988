// A request whose body never arrives whole is one request, logged and counted once, by its own access line. A client
// that goes away mid-upload is its 499 (it was also a "request refused before routing" 400 with another id); a body
// that stalls past the request timeout gets one 408 with the request's own id (it was a raw 408 whose id matched
// neither the access line nor the trace), and a body whose chunk framing breaks mid-way one 400. In each case the
// request in flight is cancelled through the sidecar to the app, which before waited for the rest of the body.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { registry } from '../../core/telemetry/metrics.js';
import { startEdgeMesh, bodyOf, type EdgeMesh, type RawAnswer } from '../support/edge-mesh.js';
import type { RouteConfig } from '../../core/config/schema.js';

const ROUTES = [{ name: 'upload', matches: [{ path: { type: 'PathPrefix', value: '/upload' } }], backendRefs: [{ name: 'up' }] }] as RouteConfig[];

/** The app behind the sidecar: each request by URL, with a promise of how it ended at the app. */
interface AppRequest {
  /** Resolves when the request closes at the app: `complete` says whether its whole body came. */
  closed: Promise<{ complete: boolean }>;
}
const arrived = new Map<string, (r: AppRequest) => void>();
const seen = new Map<string, AppRequest>();
/** Resolves once the app has the head of the request for `url` (the request is in flight through the mesh). */
function atApp(url: string): Promise<AppRequest> {
  const got = seen.get(url);
  return got ? Promise.resolve(got) : new Promise((resolve) => arrived.set(url, resolve));
}

let app: http.Server;
let mesh: EdgeMesh;
before(async () => {
  app = http.createServer((req, res) => {
    const closed = new Promise<{ complete: boolean }>((resolve) => req.once('close', () => resolve({ complete: req.complete })));
    const entry = { closed };
    seen.set(req.url!, entry);
    arrived.get(req.url!)?.(entry);
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  app.listen(0, '127.0.0.1');
  await once(app, 'listening');
  mesh = await startEdgeMesh({
    services: ['up'],
    routes: ROUTES,
    appPorts: { up: (app.address() as net.AddressInfo).port },
    edge: { limits: { headersTimeoutMs: 300, requestTimeoutMs: 600 } },
  });
});
after(async () => {
  await mesh?.close();
  app?.closeAllConnections();
  app?.close();
});

/** meshgate_requests_total{tier, route} in the 4xx class (route "" holds the requests refused before routing). */
async function counted4xx(tier: string, route: string): Promise<number> {
  const text = await registry.getSingleMetricAsString('meshgate_requests_total');
  const service = route ? 'up' : '';
  const line = text.split('\n').find((l) => l.includes(`tier="${tier}",route="${route}",service="${service}"`) && l.includes('status_class="4xx"'));
  return Number(line?.split(' ').pop() ?? 0);
}

/** The counters this file checks, per tier: refused before routing, and the route's own. */
async function counts(): Promise<Record<string, number>> {
  return {
    edgeRefused: await counted4xx('edge', ''),
    edgeRoute: await counted4xx('edge', 'upload'),
    sidecarRefused: await counted4xx('sidecar-inbound', ''),
  };
}

/** Counted once, at the edge under its route; no tier counted (or logged) a refusal before routing besides. */
async function countedOnce(before: Record<string, number>): Promise<void> {
  const now = await counts();
  assert.equal(now.edgeRefused, before.edgeRefused, 'edge: nothing counted as refused before routing');
  assert.equal(now.sidecarRefused, before.sidecarRefused, 'sidecar: nothing counted as refused before routing');
  assert.equal(now.edgeRoute, before.edgeRoute + 1, 'edge: counted once, under its route');
}

/** The edge's one answer before it closed: `status`, the JSON error `code`, and the request's own id in both places. */
function answeredAsTheRequest(got: RawAnswer, status: number, code: string, requestId: string): void {
  assert.equal(got.status, status, got.text);
  assert.equal((got.text.match(/HTTP\/1\.1 \d{3} /g) ?? []).length, 1, `one answer\n${got.text}`);
  const error = JSON.parse(bodyOf(got)).error;
  assert.equal(error.code, code);
  // The request's own id, as its access line and trace have it (before: a fresh id in a raw answer).
  assert.equal(error.requestId, requestId);
  assert.match(got.text, new RegExp(`\r\nx-request-id: ${requestId}\r\n`, 'i'));
  assert.match(got.text, /\r\nconnection: close\r\n/i);
}

/** A connection that has sent `head` and part of a body; `answer` collects what the edge sends until it closes. */
function upload(head: string, partial: string): { socket: net.Socket; answer: Promise<RawAnswer> } {
  const socket = net.connect(mesh.edge.httpPort, '127.0.0.1');
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d));
  socket.on('error', () => undefined);
  socket.once('connect', () => socket.write(head + partial));
  const answer = new Promise<RawAnswer>((resolve) =>
    socket.once('close', () => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ text, status: m ? Number(m[1]) : 0, closed: true });
    }),
  );
  return { socket, answer };
}

test('a client gone mid-upload is its own 499 only: no refusal logged or counted, and the app\'s request is cut', async () => {
  const before = await counts();
  const { socket, answer } = upload('POST /upload/gone HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n', 'a'.repeat(70_000));
  const atTheApp = await atApp('/upload/gone');
  socket.end(); // half-way through the body the client gives up
  assert.equal((await atTheApp.closed).complete, false, 'the app saw the request cut, not completed');
  await answer;
  // Before, each tier also counted it as a request refused before routing (a 400 with another id).
  await countedOnce(before);
});

test('a body that stalls past the request timeout gets one 408 with the request\'s own id; the app\'s request is cut', async () => {
  const before = await counts();
  const { answer } = upload('POST /upload/stalled HTTP/1.1\r\nHost: a\r\nx-request-id: stalled-upload-1\r\nContent-Length: 100000\r\n\r\n', 'a'.repeat(70_000));
  const atTheApp = await atApp('/upload/stalled');
  // The client sends nothing more: the edge answers and closes.
  answeredAsTheRequest(await answer, 408, 'request_timeout', 'stalled-upload-1');
  // Before, the try stayed open through the sidecar to the app, waiting for the rest of the body.
  assert.equal((await atTheApp.closed).complete, false, 'the app saw the request cut');
  await countedOnce(before);
});

test('a chunked body whose framing breaks mid-way gets one 400 with the request\'s own id; the app\'s request is cut', async () => {
  const before = await counts();
  const { socket, answer } = upload('POST /upload/bad-chunk HTTP/1.1\r\nHost: a\r\nx-request-id: bad-chunk-1\r\nTransfer-Encoding: chunked\r\n\r\n', '5\r\nhello\r\n');
  const atTheApp = await atApp('/upload/bad-chunk');
  socket.write('4 x\r\nabcd\r\n0\r\n\r\n');
  answeredAsTheRequest(await answer, 400, 'bad_request', 'bad-chunk-1');
  assert.equal((await atTheApp.closed).complete, false, 'the app saw the request cut');
  await countedOnce(before);
});
