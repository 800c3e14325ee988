// HTTP/2 at the edge, on the TLS port (ALPN h2) and the plain port (h2c prior knowledge). A request body reaches
// the app whole with or without Content-Length (HTTP/2 needs neither it nor chunking), and :authority reaches it as
// Host (a Host naming another entity is refused). Connections are bounded like HTTP/1.1 ones: a client that sends
// the preface and then nothing is dropped at the head timeout, a session with no stream open gets GOAWAY at the
// idle timeout, and a stream that stays open longer keeps its session. CONNECT, which the edge never tunnels, is a
// JSON 400 on its stream and reaches no app. Every HTTP/2 port (the sidecars' h2c ports too) advertises the same
// limits, and a header block over them is a JSON 431, even on a session's first streams, which come before the
// client has acknowledged those limits. Abuse (rapid reset, CONTINUATION floods) is in edge-http2-flood.test.ts.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { registry } from '../../core/telemetry/metrics.js';
import { startEdgeMesh, rawExchange, type EdgeMesh } from '../support/edge-mesh.js';
import { makeCertificate } from '../support/test-certificates.js';
import type { RouteConfig } from '../../core/config/schema.js';

const ROUTES = [{ name: 'public', matches: [{ path: { type: 'PathPrefix', value: '/public' } }], backendRefs: [{ name: 'pub' }] }] as RouteConfig[];
const HEAD_TIMEOUT_MS = 300;
const IDLE_TIMEOUT_MS = 500;
const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

let mesh: EdgeMesh;
let dir: string;
let ports: { name: string; url: string; connect: http2.SecureClientSessionOptions }[];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshgate-h2-'));
  const cert = await makeCertificate(dir, 'default', 'default', 'DNS:localhost,IP:127.0.0.1');
  mesh = await startEdgeMesh({
    services: ['pub'],
    routes: ROUTES,
    edge: {
      httpsPort: 0,
      certFile: cert.certFile,
      keyFile: cert.keyFile,
      limits: { headersTimeoutMs: HEAD_TIMEOUT_MS, http2IdleTimeoutMs: IDLE_TIMEOUT_MS },
    },
  });
  ports = [
    { name: 'TLS', url: `https://127.0.0.1:${mesh.edge.httpsPort}`, connect: { ca: readFileSync(cert.certFile) } },
    { name: 'h2c', url: `http://127.0.0.1:${mesh.edge.httpPort}`, connect: {} },
  ];
});
after(async () => {
  await mesh?.close();
  await rm(dir, { recursive: true, force: true });
});

/** `check` on a fresh HTTP/2 session to each port (TLS, then h2c); the session is destroyed after. */
async function onEachPort(check: (session: http2.ClientHttp2Session, port: (typeof ports)[number]) => Promise<void>): Promise<void> {
  for (const port of ports) {
    const session = http2.connect(port.url, port.connect);
    try {
      await check(session, port);
    } finally {
      session.destroy();
    }
  }
}

/** One request on `session`: status and body once the response ended. */
async function exchange(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: () => Promise<string>): Promise<{ status: number; body: string }> {
  const req = session.request(headers, { endStream: !body });
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  const ended = once(req, 'end');
  const [[response]] = (await Promise.all([once(req, 'response'), body?.().then((b) => req.end(b))])) as [[http2.IncomingHttpHeaders], unknown];
  await ended;
  return { status: Number(response[':status']), body: Buffer.concat(chunks).toString() };
}

test('a request body reaches the app whole, streamed without Content-Length or declared with it', async () => {
  await onEachPort(async (session, port) => {
    for (const declared of [false, true]) {
      const body = `${port.name} ${declared ? 'declared' : 'streamed'} body`;
      const headers = { ':method': 'POST', ':path': '/public/upload', ...(declared && { 'content-length': Buffer.byteLength(body) }) };
      const req = session.request(headers, { endStream: false });
      const ended = once(req, 'end');
      req.resume();
      // Two DATA frames apart in time: the edge forwards what arrives, it does not wait for a length.
      req.write(body.slice(0, 5));
      await delay(50);
      req.end(body.slice(5));
      const [[response]] = (await Promise.all([once(req, 'response'), ended])) as [[http2.IncomingHttpHeaders], unknown];
      assert.equal(response[':status'], 200, `${port.name}, declared ${declared}`);
      const got = mesh.apps.pub.received.at(-1)!;
      assert.equal(got.body, body, `${port.name}, declared ${declared}: the app got the whole body`);
      assert.equal(got.complete, true);
    }
  });
});

test(':authority reaches an HTTP/1.1 app as Host; a Host that differs from :authority is a 400 and reaches no app', async () => {
  await onEachPort(async (session, port) => {
    const ok = await exchange(session, { ':path': '/public/authority', ':authority': 'shop.example:8443' });
    assert.equal(ok.status, 200, `${port.name}: ${ok.body}`);
    assert.equal(mesh.apps.pub.received.at(-1)!.headers.host, 'shop.example:8443', `${port.name}: Host copied from :authority (RFC 9113 §8.3.1)`);
    const same = await exchange(session, { ':path': '/public/same', ':authority': 'shop.example', host: 'SHOP.example' });
    assert.equal(same.status, 200, `${port.name}: the same entity in both is fine`);
    const before = mesh.apps.pub.received.length;
    const split = await exchange(session, { ':path': '/public/split', ':authority': 'shop.example', host: 'admin.internal' });
    assert.equal(split.status, 400, `${port.name}: ${split.body}`);
    assert.match(JSON.parse(split.body).error.message, /Host header differs from :authority/);
    assert.equal(mesh.apps.pub.received.length, before, `${port.name}: nothing forwarded`);
  });
});

test('CONNECT over HTTP/2 is a JSON 400 on its stream, on both ports, and reaches no app', async () => {
  await onEachPort(async (session, port) => {
    const before = mesh.apps.pub.received.length;
    const answer = await exchange(session, { ':method': 'CONNECT', ':authority': 'internal:80' });
    assert.equal(answer.status, 400, `${port.name}: ${answer.body}`);
    assert.equal(JSON.parse(answer.body).error.code, 'bad_request', port.name);
    assert.equal(mesh.apps.pub.received.length, before, `${port.name}: nothing forwarded`);
    // The session stays usable: the refusal is the stream's, not the connection's.
    assert.equal((await exchange(session, { ':path': '/public/after-connect' })).status, 200, port.name);
  });
});

test('a client that sends the HTTP/2 preface and then nothing is dropped at the head timeout', async () => {
  const tls = { ALPNProtocols: ['h2'], rejectUnauthorized: false };
  for (const [name, port, o] of [['h2c', mesh.edge.httpPort, {}], ['TLS', mesh.edge.httpsPort!, { tls }]] as const) {
    const started = performance.now();
    const answer = await rawExchange(port, PREFACE, { boundMs: 5_000, ...o });
    assert.equal(answer.closed, true, `${name}: the edge closed the silent connection`);
    assert.ok(performance.now() - started >= HEAD_TIMEOUT_MS - 50, `${name}: not before the head timeout`);
  }
});

test('an HTTP/2 session with no stream open gets GOAWAY at the idle timeout; an open stream keeps it', async () => {
  await onEachPort(async (session, port) => {
    const goaway = once(session, 'goaway');
    let goneAt = Infinity;
    void goaway.then(() => (goneAt = performance.now()));
    // A request body that keeps its stream open for twice the idle timeout: the session is not idle meanwhile.
    const slow = await exchange(session, { ':method': 'POST', ':path': '/public/slow' }, () => delay(2 * IDLE_TIMEOUT_MS).then(() => 'late body'));
    assert.equal(slow.status, 200, `${port.name}: ${slow.body}`);
    assert.equal(goneAt, Infinity, `${port.name}: no GOAWAY while a stream was open`);
    assert.equal(mesh.apps.pub.received.at(-1)?.body, 'late body', port.name);
    const lastStream = performance.now();
    const [code] = (await Promise.race([goaway, delay(5_000).then(() => [undefined])])) as [number | undefined];
    assert.equal(code, http2.constants.NGHTTP2_NO_ERROR, `${port.name}: a graceful GOAWAY once idle`);
    assert.ok(goneAt - lastStream >= IDLE_TIMEOUT_MS - 50, `${port.name}: not before the idle timeout (${(goneAt - lastStream).toFixed(0)} ms)`);
    await once(session, 'close');
  });
});

/** Every port that speaks HTTP/2: the edge's two and both sidecar listeners (h2c, reached by any caller). */
function http2Ports(): { name: string; tier: string; url: string; connect: http2.SecureClientSessionOptions }[] {
  const sidecar = mesh.sidecars.pub;
  return [
    { ...ports[0], tier: 'edge' },
    { ...ports[1], tier: 'edge' },
    { name: 'sidecar inbound', tier: 'sidecar-inbound', url: `http://127.0.0.1:${sidecar.inboundPort}`, connect: {} },
    { name: 'sidecar outbound', tier: 'sidecar-outbound', url: `http://127.0.0.1:${sidecar.outboundPort}`, connect: {} },
  ];
}

/** meshgate_requests_total of a tier's requests refused before routing (route ""), 4xx. */
async function refusedCount(tier: string): Promise<number> {
  const text = await registry.getSingleMetricAsString('meshgate_requests_total');
  const line = text.split('\n').find((l) => l.includes(`tier="${tier}",route="",service=""`) && l.includes('status_class="4xx"'));
  return Number(line?.split(' ').pop() ?? 0);
}

/** 15 fields of 8,000 bytes: 120 KB of headers, far over the 16 KiB header list every port allows. */
const BIG_HEADERS: http2.OutgoingHttpHeaders = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`x-big-${i}`, 'a'.repeat(8_000)]));

test('every HTTP/2 port advertises the same limits: 128 concurrent streams, a 16 KiB header list', async () => {
  for (const port of http2Ports()) {
    const session = http2.connect(port.url, port.connect);
    try {
      const [settings] = (await once(session, 'remoteSettings')) as [http2.Settings];
      // Without them a sidecar advertised 2^32 - 1 of both.
      assert.equal(settings.maxConcurrentStreams, 128, port.name);
      assert.equal(settings.maxHeaderListSize, 16 * 1024, port.name);
    } finally {
      session.destroy();
    }
  }
});

test('a header block over the limit is a JSON 431 on every HTTP/2 port, on a session\'s first stream too, and reaches no app', async () => {
  for (const port of http2Ports()) {
    const before = mesh.apps.pub.received.length;
    const refused = await refusedCount(port.tier);
    // The request leaves with the client's preface, before it has read (let alone acknowledged) the server's
    // SETTINGS: nghttp2 does not apply the advertised limit to it, and a sidecar passed it to the app.
    const session = http2.connect(port.url, { ...port.connect, maxSendHeaderBlockLength: 1e9 });
    try {
      const first = await exchange(session, { ':path': '/public/big', ...BIG_HEADERS });
      assert.equal(first.status, 431, `${port.name}: ${first.body}`);
      const error = JSON.parse(first.body).error;
      assert.equal(error.code, 'headers_too_large', port.name);
      assert.match(error.requestId, /^[0-9a-f-]{36}$/, port.name);
      assert.equal(await refusedCount(port.tier), refused + 1, `${port.name}: counted under no route`);
      // The session goes on; once our SETTINGS are acknowledged nghttp2 refuses an oversize block itself.
      assert.equal((await exchange(session, { ':path': '/public/small' })).status, 200, port.name);
      const later = session.request({ ':path': '/public/big-again', ...BIG_HEADERS });
      later.resume();
      later.on('error', () => undefined); // the reset, read from rstCode below
      await new Promise((resolve) => later.once('close', resolve));
      assert.equal(later.rstCode, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, port.name);
    } finally {
      session.destroy();
    }
    assert.ok(!mesh.apps.pub.received.slice(before).some((r) => r.url.includes('/big')), `${port.name}: no app got an oversize header block`);
  }
});

test('a gRPC call with an oversize header block gets the 431 as a gRPC status (RESOURCE_EXHAUSTED)', async () => {
  const session = http2.connect(ports[1].url, { maxSendHeaderBlockLength: 1e9 });
  try {
    const req = session.request({ ':method': 'POST', ':path': '/public/pkg.Svc/Call', 'content-type': 'application/grpc', te: 'trailers', ...BIG_HEADERS });
    req.end();
    req.resume();
    const [[response]] = (await Promise.all([once(req, 'response'), once(req, 'end')])) as [[http2.IncomingHttpHeaders], unknown];
    assert.equal(response[':status'], 200);
    assert.equal(response['grpc-status'], '8');
  } finally {
    session.destroy();
  }
});

test('the edge\'s 100-field limit holds over HTTP/2 as over HTTP/1.1: 101 fields are a JSON 431, 100 pass', async () => {
  const fields = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-f-${i}`, 'v']));
  for (const port of ports) {
    const session = http2.connect(port.url, port.connect);
    try {
      // Exactly 100 fields: the pseudo-headers (:method, :path…) are not counted.
      const ok = await exchange(session, { ':path': '/public/fields-ok', ...fields(100) });
      assert.equal(ok.status, 200, `${port.name}: ${ok.body}`);
      // Before, 101 to 124 fields passed over HTTP/2 and more were a stream reset (nghttp2's 128 pairs).
      for (const n of [101, 200]) {
        const over = await exchange(session, { ':path': '/public/fields-over', ...fields(n) });
        assert.equal(over.status, 431, `${port.name}, ${n} fields: ${over.body}`);
        assert.equal(JSON.parse(over.body).error.code, 'headers_too_large');
      }
    } finally {
      session.destroy();
    }
  }
});
