// Edge HTTP/1.1 safety on raw sockets: every smuggling and framing vector is refused with 400 (431 for size)
// and the connection closed, by the edge and by both sidecar listeners, and no app received anything; hop-by-hop and mesh-only headers
// never reach the app; maxBodySize gives 413 on a declared length and while a chunked body streams; a slow
// client is timed out; a connection is closed after its request allowance.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { registry } from '../../core/telemetry/metrics.js';
import net from 'node:net';
import { startEdgeMesh, rawExchange, bodyOf, type EdgeMesh } from '../support/edge-mesh.js';
import type { RouteConfig } from '../../core/config/schema.js';

const ROUTES = [
  { name: 'public', matches: [{ path: { type: 'PathPrefix', value: '/public' } }], backendRefs: [{ name: 'pub' }] },
  { name: 'echo', matches: [{ path: { type: 'PathPrefix', value: '/echo' } }], backendRefs: [{ name: 'echo' }] },
  { name: 'upload', matches: [{ path: { type: 'PathPrefix', value: '/upload' } }], backendRefs: [{ name: 'pub' }], maxBodySize: 16 },
] as RouteConfig[];

let mesh: EdgeMesh;
before(async () => {
  mesh = await startEdgeMesh({
    services: ['pub', 'echo'],
    routes: ROUTES,
    edge: { limits: { headersTimeoutMs: 300, requestTimeoutMs: 600, maxRequestsPerSocket: 2, maxHeaderCount: 50 } },
  });
});
after(async () => mesh?.close());

const received = () => mesh.apps.pub.received.length + mesh.apps.echo.received.length;

// Each vector aims a smuggled second request at /echo behind a request to /public where it can.
const SMUGGLE = 'GET /echo/smuggled HTTP/1.1\r\nHost: a\r\n\r\n';
const VECTORS: Record<string, string> = {
  'CL then TE': `POST /public HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLE}`,
  'TE then CL': `POST /public HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${SMUGGLE}`,
  'two different Content-Length': `POST /public HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 41\r\n\r\n${SMUGGLE}`,
  'two equal Content-Length': 'POST /public HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd',
  'Content-Length list': 'POST /public HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\nabcd',
  'Content-Length with sign': 'POST /public HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd',
  'Content-Length negative': 'POST /public HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n',
  'Content-Length hex': 'POST /public HTTP/1.1\r\nHost: a\r\nContent-Length: 0x4\r\n\r\nabcd',
  'space before colon': `POST /public HTTP/1.1\r\nHost: a\r\nContent-Length : 41\r\n\r\n${SMUGGLE}`,
  'obfuscated Transfer-Encoding': `POST /public HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLE}`,
  'chunked not final': 'POST /public HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n',
  'two Transfer-Encoding': 'POST /public HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n',
  'vertical tab in TE': 'POST /public HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n',
  'Transfer-Encoding on HTTP/1.0': `POST /public HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLE}`,
  'space in header name': 'GET /public HTTP/1.1\r\nHost: a\r\nX Bad: 1\r\n\r\n',
  'control byte in header name': 'GET /public HTTP/1.1\r\nHost: a\r\nX\x01: 1\r\n\r\n',
  'NUL in header value': 'GET /public HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n',
  'bare CR in header value': 'GET /public HTTP/1.1\r\nHost: a\r\nX-A: a\rTransfer-Encoding: chunked\r\n\r\n',
  'bare LF line endings': 'GET /public HTTP/1.1\nHost: a\n\n',
  'bare LF inside the head': 'GET /public HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n',
  'obs-fold': 'GET /public HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n',
  'two Host headers': 'GET /public HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
  'no Host': 'GET /public HTTP/1.1\r\n\r\n',
  'absolute-form authority differs from Host': 'GET http://internal/echo HTTP/1.1\r\nHost: a\r\n\r\n',
  'bad chunk size': 'POST /public HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4 x\r\nabcd\r\n0\r\n\r\n',
  'bare LF after chunk size': 'POST /public HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\nabcd\r\n0\r\n\r\n',
  // The edge is nobody's tunnel: without a 'connect' listener node dropped the connection without an answer.
  CONNECT: `CONNECT internal:80 HTTP/1.1\r\nHost: internal:80\r\n\r\n${SMUGGLE}`,
};

// The sidecars' listeners get the same checks: an east-west caller reaches them without passing the edge.
const LISTENERS: [string, () => number][] = [
  ['edge', () => mesh.edge.httpPort],
  ['sidecar inbound', () => mesh.sidecars.pub.inboundPort],
  ['sidecar outbound', () => mesh.sidecars.pub.outboundPort],
];

for (const [name, bytes] of Object.entries(VECTORS)) {
  test(`framing vector refused and not forwarded: ${name}`, async () => {
    for (const [listener, port] of LISTENERS) {
      const before = received();
      const answer = await rawExchange(port(), bytes);
      assert.equal(answer.status, 400, `${listener}: ${answer.text}`);
      assert.equal(answer.closed, true, `${listener}: the connection is closed after the refusal`);
      assert.match(bodyOf(answer), /"code":"bad_request"/, listener);
      assert.equal((answer.text.match(/HTTP\/1\.1 \d{3} /g) ?? []).length, 1, `${listener}: exactly one response: nothing smuggled was answered\n${answer.text}`);
      assert.equal(received(), before, `${listener}: no app received anything`);
    }
  });
}

test('HTTP/1.0 needs no Host: routed on every listener', async () => {
  for (const [listener, port] of LISTENERS) {
    const answer = await rawExchange(port(), 'GET /public/h10 HTTP/1.0\r\n\r\n');
    assert.equal(answer.status, 200, `${listener}: ${answer.text}`);
    assert.equal(mesh.apps.pub.received.at(-1)!.url, '/public/h10', listener);
  }
});

test('too many header fields: 431 and closed, not forwarded', async () => {
  const before = received();
  let head = 'GET /public HTTP/1.1\r\nHost: a\r\n';
  for (let i = 0; i < 60; i++) head += `x-h${i}: 1\r\n`;
  const answer = await rawExchange(mesh.edge.httpPort, `${head}\r\n`);
  assert.equal(answer.status, 431, answer.text);
  assert.equal(answer.closed, true);
  assert.equal(received(), before);
});

/** meshgate_requests_total of the edge's unmatched series (requests refused before routing) for a status class. */
async function unrouted(statusClass: string): Promise<number> {
  const text = await registry.getSingleMetricAsString('meshgate_requests_total');
  const line = text.split('\n').find((l) => l.includes('tier="edge",route="",service=""') && l.includes(`status_class="${statusClass}"`));
  return Number(line?.split(' ').pop() ?? 0);
}

test('oversize header block: 431 and closed, not forwarded', async () => {
  const before = received();
  const counted = await unrouted('4xx');
  const answer = await rawExchange(mesh.edge.httpPort, `GET /public HTTP/1.1\r\nHost: a\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`);
  assert.equal(answer.status, 431, answer.text);
  assert.equal(answer.closed, true);
  // Refused by node's parser before any stage ran, yet with a request id to quote, as every mesh error (was ""),
  // and counted (it was neither counted nor logged).
  assert.match(JSON.parse(bodyOf(answer)).error.requestId, /^[0-9a-f-]{36}$/);
  assert.equal(await unrouted('4xx'), counted + 1);
  assert.equal(received(), before);
});

test('the forwarded request is re-serialized: hop-by-hop, Connection-listed and mesh-only headers (any "_" spelling) removed', async () => {
  const answer = await rawExchange(
    mesh.edge.httpPort,
    'GET /public/h HTTP/1.1\r\nHost: a\r\nConnection: close, x-secret\r\nx-secret: s\r\nKeep-Alive: timeout=5\r\n' +
      'Proxy-Authorization: Basic eA==\r\nTE: gzip\r\nx-auth-subject: admin\r\nx-meshgate-client-ip: 1.2.3.4\r\nx-kept: yes\r\n' +
      // CGI-style apps read these as HTTP_X_AUTH_SUBJECT and HTTP_X_AUTH_CLAIMS: the same names.
      'x_auth_subject: admin\r\nX-Auth_Claims: e30\r\nx_meshgate_client_ip: 1.2.3.4\r\nx_kept_too: yes\r\n\r\n',
  );
  assert.equal(answer.status, 200, answer.text);
  const got = mesh.apps.pub.received.at(-1)!;
  assert.equal(got.url, '/public/h');
  assert.equal(got.headers['x-kept'], 'yes');
  for (const h of ['x-secret', 'keep-alive', 'proxy-authorization', 'te', 'x-auth-subject', 'x_auth_subject', 'x-auth_claims', 'x_meshgate_client_ip'])
    assert.equal(got.headers[h], undefined, h);
  assert.equal(got.headers.x_kept_too, 'yes', 'other underscore names pass');
  // The mesh-only client-IP header is for the sidecar; the app sees only what the edge vouched for.
  assert.equal(got.headers['x-meshgate-client-ip'], undefined);
  assert.equal(got.headers['x-forwarded-for'], '127.0.0.1');
});

test('maxBodySize: a declared Content-Length over the limit is 413 before anything is forwarded', async () => {
  const before = received();
  const answer = await rawExchange(mesh.edge.httpPort, `POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n${'x'.repeat(17)}`);
  assert.equal(answer.status, 413, answer.text);
  assert.match(bodyOf(answer), /"code":"payload_too_large"/);
  assert.equal(answer.closed, true);
  assert.equal(received(), before);
});

test('maxBodySize: a chunked body is cut with 413 when it crosses the limit; at the limit it passes', async () => {
  const over = await rawExchange(mesh.edge.httpPort, 'POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n' + '8\r\n12345678\r\n'.repeat(4) + '0\r\n\r\n');
  assert.equal(over.status, 413, over.text);
  assert.equal(over.closed, true);
  assert.ok(mesh.apps.pub.received.every((r) => !r.complete || r.body.length <= 16), 'no app got a complete body over the limit');
  const at = await rawExchange(mesh.edge.httpPort, 'POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' + '8\r\n12345678\r\n'.repeat(2) + '0\r\n\r\n');
  assert.equal(at.status, 200, at.text);
  assert.equal(mesh.apps.pub.received.at(-1)!.body, '1234567812345678');
});

test('maxBodySize holds at the sidecar too, for a caller that does not come through the edge', async () => {
  const sidecar = mesh.sidecars.pub.inboundPort;
  const before = received();
  const declared = await rawExchange(sidecar, `POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n${'x'.repeat(17)}`);
  assert.equal(declared.status, 413, declared.text);
  assert.equal(received(), before);
  const chunked = await rawExchange(sidecar, 'POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n' + '8\r\n12345678\r\n'.repeat(4) + '0\r\n\r\n');
  assert.equal(chunked.status, 413, chunked.text);
  assert.ok(mesh.apps.pub.received.every((r) => !r.complete || r.body.length <= 16), 'no app got a complete body over the limit');
  const at = await rawExchange(sidecar, `POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 16\r\nConnection: close\r\n\r\n${'y'.repeat(16)}`);
  assert.equal(at.status, 200, at.text);
  assert.equal(mesh.apps.pub.received.at(-1)!.body, 'y'.repeat(16));
});

test('a slow client that never finishes its head is answered 408 and disconnected', async () => {
  const before = received();
  // The bound (5 s) is far above the edge's headersTimeout (300 ms): reaching it means the edge never cut us off.
  const answer = await rawExchange(mesh.edge.httpPort, 'GET /public HTTP/1.1\r\nHost: a\r\nX-Slow: ', { boundMs: 5_000 });
  assert.equal(answer.closed, true, 'the edge closed the connection');
  assert.equal(answer.status, 408, answer.text);
  assert.equal(received(), before);
});

test('keep-alive allowance: after maxRequestsPerSocket requests the connection closes; the rest is not forwarded', async () => {
  const answer = await rawExchange(
    mesh.edge.httpPort,
    'GET /public/k1 HTTP/1.1\r\nHost: a\r\n\r\nGET /public/k2 HTTP/1.1\r\nHost: a\r\n\r\nGET /public/k3 HTTP/1.1\r\nHost: a\r\n\r\n',
    { boundMs: 5_000 },
  );
  assert.equal(answer.closed, true, 'the edge closed the connection');
  const responses = answer.text.split(/(?=HTTP\/1\.1 )/);
  assert.equal(responses[0].slice(9, 12), '200');
  assert.equal(responses[1].slice(9, 12), '200');
  assert.match(responses[1], /connection: close/i, 'the last allowed response says close');
  assert.ok(!mesh.apps.pub.received.some((r) => r.url === '/public/k3'), 'the request past the allowance was not forwarded');
});

/** A POST that waits for "100 Continue" before it sends its body, as curl and most HTTP clients do for uploads. */
function expectContinue(port: number, body: string): Promise<{ continued: boolean; text: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let continued = false;
    const timer = setTimeout(() => socket.destroy(), 5_000);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      text += d;
      if (!continued && /^HTTP\/1\.1 100 /.test(text) && text.includes('\r\n\r\n')) {
        continued = true;
        socket.write(body);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ continued, text });
    });
    socket.on('error', () => undefined);
    socket.write(`POST /public/upload HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
  });
}

test('Expect: 100-continue is answered on the client connection, and the body reaches the app without it', async () => {
  for (const [listener, port] of LISTENERS) {
    const body = `${listener}:${'u'.repeat(3000)}`;
    const answer = await expectContinue(port(), body);
    assert.ok(answer.continued, `${listener}: 100 Continue came before the body\n${answer.text}`);
    assert.match(answer.text, /\r\n\r\nHTTP\/1\.1 200 /, `${listener}: ${answer.text}`);
    const got = mesh.apps.pub.received.at(-1)!;
    assert.equal(got.body, body, listener);
    // undici refuses to send Expect (it was a 502), and the upstream has nothing left to agree to.
    assert.equal(got.headers.expect, undefined, listener);
  }
});
