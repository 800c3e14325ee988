// Path safety and forwarding headers through edge → sidecar → app: every bypass vector either is refused or
// reaches only the route it matched, with the normalized path (the app records what it received; /echo's auth
// still applies to `/public/../echo`); X-Forwarded-For is believed only from trusted proxies, and the client IP
// the sidecar's quota keys on is the trusted one.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startEdgeMesh, rawExchange, type EdgeMesh } from '../support/edge-mesh.js';
import type { RouteConfig } from '../../core/config/schema.js';
import type { EdgeNode } from '../../edge/main.js';
import { TrustedProxies } from '../../core/http/trusted-proxies.js';

const ROUTES = [
  { name: 'public', matches: [{ path: { type: 'PathPrefix', value: '/public' } }], backendRefs: [{ name: 'pub' }] },
  { name: 'echo', matches: [{ path: { type: 'PathPrefix', value: '/echo' } }], backendRefs: [{ name: 'echo' }], auth: { required: true } },
  // The same path on one host name goes to echo, behind auth.
  { name: 'admin', hostnames: ['admin.example.com'], matches: [{ path: { type: 'PathPrefix', value: '/public' } }], backendRefs: [{ name: 'echo' }], auth: { required: true } },
  {
    name: 'limited',
    matches: [{ path: { type: 'PathPrefix', value: '/limited' } }],
    backendRefs: [{ name: 'pub' }],
    quota: [{ limit: 1, window: 'minute', key: ['client-ip'] }],
  },
] as RouteConfig[];

let mesh: EdgeMesh;
let strict: EdgeNode;
let trusting: EdgeNode;
before(async () => {
  mesh = await startEdgeMesh({ services: ['pub', 'echo'], routes: ROUTES, auth: true });
  strict = await mesh.addEdge({ normalize: { mergeSlashes: true, escapedSlashes: 'reject' } });
  trusting = await mesh.addEdge({ trustedProxies: new TrustedProxies(['127.0.0.0/8']) });
});
after(async () => mesh?.close());

interface Outcome {
  status: number;
  /** Which app got the request and the path it received ('' when none did). */
  app: string;
  path: string;
}

async function send(port: number, target: string, headers = '', host = 'a'): Promise<Outcome> {
  const before = { pub: mesh.apps.pub.received.length, echo: mesh.apps.echo.received.length };
  const answer = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${headers}Connection: close\r\n\r\n`);
  const pub = mesh.apps.pub.received.slice(before.pub);
  const echo = mesh.apps.echo.received.slice(before.echo);
  assert.ok(pub.length + echo.length <= 1, 'one request reaches at most one app');
  const got = pub[0] ? { app: 'pub', path: pub[0].url } : echo[0] ? { app: 'echo', path: echo[0].url } : { app: '', path: '' };
  return { status: answer.status, ...got };
}

/** [target, outcome with the default policy (keep escaped slashes, no merging), outcome with reject + merge]. */
const VECTORS: [string, Outcome, Outcome][] = [
  ['/public/../echo', { status: 401, app: '', path: '' }, { status: 401, app: '', path: '' }],
  ['/public/%2e%2e/echo', { status: 401, app: '', path: '' }, { status: 401, app: '', path: '' }],
  ['/public/%2E%2E/echo', { status: 401, app: '', path: '' }, { status: 401, app: '', path: '' }],
  ['/public/.%2e/echo', { status: 401, app: '', path: '' }, { status: 401, app: '', path: '' }],
  ['/public/./../../echo', { status: 401, app: '', path: '' }, { status: 401, app: '', path: '' }],
  ['/public;/../echo', { status: 401, app: '', path: '' }, { status: 401, app: '', path: '' }],
  ['http://a/public/../echo', { status: 401, app: '', path: '' }, { status: 401, app: '', path: '' }],
  ['/public/..%2Fecho', { status: 200, app: 'pub', path: '/public/..%2Fecho' }, { status: 400, app: '', path: '' }],
  ['/public/%2e%2e%2fecho', { status: 200, app: 'pub', path: '/public/..%2Fecho' }, { status: 400, app: '', path: '' }],
  ['/public/..%5Cecho', { status: 200, app: 'pub', path: '/public/..%5Cecho' }, { status: 400, app: '', path: '' }],
  ['/public%2F..%2Fecho', { status: 404, app: '', path: '' }, { status: 400, app: '', path: '' }],
  ['/public\\..\\echo', { status: 400, app: '', path: '' }, { status: 400, app: '', path: '' }],
  ['/public/%252e%252e/echo', { status: 200, app: 'pub', path: '/public/%252e%252e/echo' }, { status: 200, app: 'pub', path: '/public/%252e%252e/echo' }],
  ['/public/%c0%ae%c0%ae/echo', { status: 200, app: 'pub', path: '/public/%C0%AE%C0%AE/echo' }, { status: 200, app: 'pub', path: '/public/%C0%AE%C0%AE/echo' }],
  // Servlet containers read "..;" as "..": refused, or the app would serve /echo under /public's policy.
  ['/public/..;/echo', { status: 400, app: '', path: '' }, { status: 400, app: '', path: '' }],
  ['/public/%2e%2e;x/echo', { status: 400, app: '', path: '' }, { status: 400, app: '', path: '' }],
  // An empty segment is a segment: "//echo" and "//public/x" are under no route (the app would read "//public/x"
  // as host "public", path "/x"); merged, they are "/echo" and "/public/x".
  ['//echo', { status: 404, app: '', path: '' }, { status: 401, app: '', path: '' }],
  ['//public/x', { status: 404, app: '', path: '' }, { status: 200, app: 'pub', path: '/public/x' }],
  ['/public//x', { status: 200, app: 'pub', path: '/public//x' }, { status: 200, app: 'pub', path: '/public/x' }],
  ['/public//../echo', { status: 200, app: 'pub', path: '/public/echo' }, { status: 401, app: '', path: '' }],
  ['/%70ublic/x', { status: 200, app: 'pub', path: '/public/x' }, { status: 200, app: 'pub', path: '/public/x' }],
  ['/public/%00/../../echo', { status: 400, app: '', path: '' }, { status: 400, app: '', path: '' }],
  ['/public/x%', { status: 400, app: '', path: '' }, { status: 400, app: '', path: '' }],
  ['/ECHO', { status: 404, app: '', path: '' }, { status: 404, app: '', path: '' }],
  ['/public/../echo?x=/public', { status: 401, app: '', path: '' }, { status: 401, app: '', path: '' }],
];

for (const [target, lenient, strictOutcome] of VECTORS) {
  test(`path vector ${JSON.stringify(target)} stays on the route it matched`, async () => {
    assert.deepEqual(await send(mesh.edge.httpPort, target), lenient, 'default policy');
    assert.deepEqual(await send(strict.httpPort, target), strictOutcome, 'mergeSlashes + reject escaped slashes');
  });
}

test('with a token, /public/../echo reaches the echo app as /echo (auth applied, path normalized)', async () => {
  const token = await mesh.token();
  const outcome = await send(mesh.edge.httpPort, '/public/%2e%2e/echo', `Authorization: Bearer ${token}\r\n`);
  assert.deepEqual(outcome, { status: 200, app: 'echo', path: '/echo' });
});

test('an untrusted peer cannot choose its X-Forwarded-For or X-Real-IP: the edge replaces them and quota keys on the peer', async () => {
  const first = await send(mesh.edge.httpPort, '/limited/a', 'X-Forwarded-For: 198.51.100.1\r\nX-Real-IP: 198.51.100.1\r\n');
  assert.equal(first.status, 200);
  const got = mesh.apps.pub.received.at(-1)!;
  assert.equal(got.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(got.headers['x-real-ip'], '127.0.0.1');
  assert.equal(got.headers.forwarded, 'for=127.0.0.1;proto=http;host="a"');
  // A different claimed client is still the same peer: same quota key, so the limit of 1 per minute holds.
  const second = await send(mesh.edge.httpPort, '/limited/b', 'X-Forwarded-For: 198.51.100.2\r\n');
  assert.equal(second.status, 429);
});

test('X-Forwarded-Host and Forwarded host= are the Host the client sent, port included', async () => {
  // Before, the port was dropped (the routing form of the host): an app behind :8443 built its URLs on :443.
  assert.equal((await send(mesh.edge.httpPort, '/public/h', '', 'a:8443')).status, 200);
  let got = mesh.apps.pub.received.at(-1)!;
  assert.equal(got.headers['x-forwarded-host'], 'a:8443');
  assert.equal(got.headers.forwarded, 'for=127.0.0.1;proto=http;host="a:8443"');
  assert.equal((await send(mesh.edge.httpPort, '/public/h', '', '[::1]:8080')).status, 200);
  assert.equal(mesh.apps.pub.received.at(-1)!.headers['x-forwarded-host'], '[::1]:8080');
  assert.equal((await send(mesh.edge.httpPort, '/public/h', '', 'A.')).status, 200);
  got = mesh.apps.pub.received.at(-1)!;
  assert.equal(got.headers['x-forwarded-host'], 'A.', 'as sent');
  // A Host that is no host name cannot reach the header at all: the edge refuses it.
  assert.equal((await send(mesh.edge.httpPort, '/public/h', '', 'a"b')).status, 400);
});

test('a trusted proxy\'s X-Forwarded-For names the client: right-most untrusted hop, chain kept, quota per client', async () => {
  const a = await send(trusting.httpPort, '/limited/c', 'X-Forwarded-For: spoofed, 203.0.113.7\r\n');
  assert.equal(a.status, 200);
  const got = mesh.apps.pub.received.at(-1)!;
  assert.equal(got.headers['x-forwarded-for'], 'spoofed, 203.0.113.7, 127.0.0.1');
  assert.equal(got.headers.forwarded, 'for=203.0.113.7;proto=http;host="a"');
  assert.equal(got.headers['x-real-ip'], '203.0.113.7');
  // Another client behind the same proxy has its own quota key; the first one's is spent.
  assert.equal((await send(trusting.httpPort, '/limited/d', 'X-Forwarded-For: 203.0.113.8\r\n')).status, 200);
  assert.equal((await send(trusting.httpPort, '/limited/e', 'X-Forwarded-For: 203.0.113.7\r\n')).status, 429);
  // A hop the proxy itself appended (trusted) is skipped: the client is the next one left.
  assert.equal((await send(trusting.httpPort, '/limited/f', 'X-Forwarded-For: 203.0.113.9, 127.0.0.5\r\n')).status, 200);
  assert.equal((await send(trusting.httpPort, '/limited/g', 'X-Forwarded-For: 203.0.113.9\r\n')).status, 429);
});

test('an absolute-form target naming the Host with its scheme\'s default port is the same origin (RFC 9112 §3.2.2)', async () => {
  // Before, `GET http://a:80/x` with `Host: a` was a 400 (authority differs from Host).
  assert.deepEqual(await send(mesh.edge.httpPort, 'http://a:80/public/abs'), { status: 200, app: 'pub', path: '/public/abs' });
  assert.deepEqual(await send(mesh.edge.httpPort, 'http://a/public/abs', '', 'a:80'), { status: 200, app: 'pub', path: '/public/abs' });
  assert.equal((await send(mesh.edge.httpPort, 'http://a:8080/public/abs')).status, 400, 'another port is another origin');
  assert.equal((await send(mesh.edge.httpPort, 'https://a:80/public/abs')).status, 400, 'port 80 is not https\'s default');
});

test('a host name routes the same with or without the trailing dot of an absolute name, in any case', async () => {
  for (const host of ['admin.example.com', 'admin.example.com.', 'ADMIN.example.com.:80']) {
    assert.deepEqual(await send(mesh.edge.httpPort, '/public/x', '', host), { status: 401, app: '', path: '' }, host);
  }
  assert.deepEqual(await send(mesh.edge.httpPort, '/public/x', '', 'other.example.com.'), { status: 200, app: 'pub', path: '/public/x' });
});
