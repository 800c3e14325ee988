// Resilience on every hop, in-process mesh (edge → sidecar → fault-injecting app) on real sockets: breaker,
// deadlines hop by hop, resets, refused connections, POST safety, retry budget, outlier ejection, pool overflow.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import type { MeshConfig } from '../../core/config/schema.js';
import { registerEndpoint } from '../../core/store/endpoints.js';
import { startSidecar } from '../../sidecar/main.js';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { startMesh, type Mesh } from '../support/resilience-mesh.js';
import { waitFor } from '../support/wait-for.js';

const NO_BREAKER = { volumeThreshold: 100000 };
const route = (name: string, service: string, extra: Record<string, unknown> = {}) => ({
  name,
  matches: [{ path: { type: 'PathPrefix', value: `/${name}` } }],
  backendRefs: [{ name: service }],
  ...extra,
});

const CONFIG = {
  apiVersion: 'meshgate/v1',
  services: [
    { name: 'storm', circuitBreaker: { volumeThreshold: 5, errorThresholdPercentage: 50, resetTimeout: '1s' } },
    { name: 'slow', circuitBreaker: NO_BREAKER },
    { name: 'front', circuitBreaker: NO_BREAKER },
    { name: 'back', circuitBreaker: NO_BREAKER },
    { name: 'resets', circuitBreaker: NO_BREAKER },
    { name: 'refused', circuitBreaker: NO_BREAKER },
    { name: 'posts', circuitBreaker: NO_BREAKER },
    { name: 'outage-open', circuitBreaker: NO_BREAKER, retryBudget: { percent: 100, minRetriesPerSecond: 10000 } },
    { name: 'outage-budget', circuitBreaker: NO_BREAKER, retryBudget: { percent: 20, minRetriesPerSecond: 0 } },
    { name: 'outage-default', circuitBreaker: NO_BREAKER },
    { name: 'flaky', loadBalancer: 'round-robin', circuitBreaker: NO_BREAKER, outlierDetection: { consecutiveErrors: 3, baseEjectionTime: '3s', maxEjectionPercent: 50 } },
    { name: 'narrow', circuitBreaker: NO_BREAKER, connectionPool: { maxConnections: 1, maxPending: 0 } },
    { name: 'held', circuitBreaker: NO_BREAKER },
    { name: 'left', circuitBreaker: { volumeThreshold: 5, errorThresholdPercentage: 50, resetTimeout: '30s' } },
  ],
  routes: [
    route('storm', 'storm'),
    route('slow', 'slow', { timeouts: { request: '300ms' } }),
    route('front', 'front', { timeouts: { request: '5s' } }),
    route('back', 'back'),
    route('resets', 'resets', { retry: { attempts: 3, retryOn: ['reset', 'gateway-error'] } }),
    route('refused', 'refused'),
    route('posts', 'posts', { retry: { attempts: 3, retryOn: ['connect-failure', 'reset', 'gateway-error'] } }),
    route('outage-open', 'outage-open', { retry: { attempts: 5, retryOn: ['gateway-error'], backoff: '1ms', maxBackoff: '1ms' } }),
    route('outage-budget', 'outage-budget', { retry: { attempts: 5, retryOn: ['gateway-error'], backoff: '1ms', maxBackoff: '1ms' } }),
    route('outage-default', 'outage-default', { retry: { attempts: 5, retryOn: ['gateway-error'], backoff: '1ms', maxBackoff: '1ms' } }),
    route('flaky', 'flaky'),
    route('narrow', 'narrow'),
    route('held', 'held', { timeouts: { request: '60s' } }),
    route('left', 'left', { timeouts: { request: '60s' }, retry: { attempts: 3, retryOn: ['reset', 'gateway-error'] } }),
  ],
} as MeshConfig;

let mesh: Mesh;
let frontApp: http.Server;
const extra: FakeUpstream[] = [];

before(async () => {
  mesh = await startMesh(CONFIG);
});

after(async () => {
  await mesh?.close();
  for (const f of extra) await f.close();
  await new Promise((r) => (frontApp ? frontApp.close(r) : r(undefined)));
});

test('5xx storm: the breaker opens (503 breaker_open at once, upstream spared), half-opens, and closes on a good probe', async () => {
  const { app } = await mesh.addInstance('storm', 'error');
  await app.setMode('error', { status: 500 });
  const statuses: number[] = [];
  for (let i = 0; i < 20 && !statuses.includes(503); i++) statuses.push((await mesh.get('/storm/x')).status);
  assert.ok(statuses.includes(500), 'the storm reached the client as 500s first');
  assert.equal(statuses.at(-1), 503);
  const open = await mesh.get('/storm/x');
  assert.equal(open.status, 503);
  assert.equal(open.json().error.code, 'breaker_open');
  for (let i = 0; i < 5; i++) {
    const before = app.received.length;
    const r = await mesh.get('/storm/x');
    // (after the reset timeout one half-open probe would go through; none of the breaker_open answers did)
    if (r.status === 503) assert.equal(app.received.length, before, 'an open breaker sends nothing upstream');
  }
  assert.equal((await mesh.admin('/config')).breakers.storm, 'open');
  assert.match(await mesh.admin('/metrics'), /meshgate_breaker_state\{tier="edge",service="storm"\} 2/);

  await app.setMode('ok');
  await waitFor(async () => (await mesh.admin('/config')).breakers.storm === 'half-open', 'breaker half-open');
  assert.match(await mesh.admin('/metrics'), /meshgate_breaker_state\{tier="edge",service="storm"\} 1/);
  assert.equal((await mesh.get('/storm/x')).status, 200);
  assert.equal((await mesh.admin('/config')).breakers.storm, 'closed');
  assert.equal((await mesh.get('/storm/x')).status, 200);
});

test('slow upstream: 504 deadline_exceeded at the route deadline, and the app saw the budget', async () => {
  const { app } = await mesh.addInstance('slow', 'slow');
  const answer = mesh.get('/slow/x');
  await app.waitForHeld(1);
  const budget = Number(app.received[0].headers['x-request-timeout-ms']);
  assert.ok(budget > 0 && budget <= 300, `app budget ${budget}`);
  const res = await answer;
  assert.equal(res.status, 504);
  assert.equal(res.json().error.code, 'deadline_exceeded');
  app.release();
});

test('x-request-timeout-ms decreases hop by hop: client → edge → sidecar → app → sidecar outbound → sidecar → app', async () => {
  const back = await mesh.addInstance('back', 'ok');
  // The front app records what it was told and calls `back` through its own sidecar's outbound, passing the budget on.
  let frontSaw = 0;
  let outboundPort = 0;
  frontApp = http.createServer(async (req, res) => {
    frontSaw = Number(req.headers['x-request-timeout-ms']);
    const r = await request(`http://127.0.0.1:${outboundPort}/back/y`, { headers: { 'x-request-timeout-ms': String(frontSaw) } });
    const text = await r.body.text();
    res.writeHead(r.statusCode, { 'content-type': 'application/json' }).end(text);
  });
  await new Promise<void>((r) => frontApp.listen(0, '127.0.0.1', r));
  const stateDir = mkdtempSync(join(tmpdir(), 'meshgate-front-'));
  const sidecar = await startSidecar({
    store: mesh.store,
    endpoints: mesh.endpoints,
    service: 'front',
    app: `127.0.0.1:${(frontApp.address() as AddressInfo).port}`,
    inboundPort: 0,
    outboundPort: 0,
    adminPort: 0,
    stateDir,
    register: (service, id, address) => registerEndpoint(mesh.store, { service, id, address }),
  });
  outboundPort = sidecar.outboundPort;
  try {
    const res = await mesh.get('/front/x', { headers: { 'x-request-timeout-ms': '4000' } });
    assert.equal(res.status, 200, res.body);
    const backSaw = Number(back.app.received.at(-1)!.headers['x-request-timeout-ms']);
    assert.ok(frontSaw > 0 && frontSaw < 4000, `front app saw ${frontSaw}`);
    assert.ok(backSaw > 0 && backSaw < frontSaw, `back app saw ${backSaw} after front's ${frontSaw}`);
    // A spent budget is refused at once, without calling the app.
    const before = back.app.received.length;
    const spent = await mesh.get('/back/y', { headers: { 'x-request-timeout-ms': '0' } });
    assert.equal(spent.status, 504);
    assert.equal(back.app.received.length, before);
  } finally {
    await sidecar.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test('connection reset mid-response: the client sees a cut response, never a made-up success; the mesh keeps serving', async () => {
  const bad = await mesh.addInstance('resets', 'reset');
  const res = await request(`${mesh.edgeUrl}/resets/x`);
  assert.equal(res.statusCode, 200); // the status was already on the wire when the upstream reset
  await assert.rejects(res.body.text());
  // Reset before any answer: an idempotent GET is retried on the other instance.
  await bad.app.setMode('reset-before-response');
  const good = await mesh.addInstance('resets', 'ok');
  for (let i = 0; i < 10; i++) {
    const r = await mesh.get('/resets/x');
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json().upstream, good.app.name);
  }
});

test('refused connections: retried on another endpoint, for POST too (it never reached the upstream)', async () => {
  const dead = await startFakeUpstream('dead', 'refuse');
  extra.push(dead);
  await registerEndpoint(mesh.store, { service: 'refused', id: 'a-dead', address: dead.address });
  const live = await mesh.addInstance('refused', 'ok');
  for (let i = 0; i < 10; i++) {
    const r = await mesh.get('/refused/x', { method: i % 2 ? 'POST' : 'GET', body: i % 2 ? '{"n":1}' : undefined });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json().upstream, live.app.name);
  }
  assert.ok(live.app.received.some((r) => r.method === 'POST' && r.body === '{"n":1}'), 'the buffered POST body arrived');
  // A body too large to hold for a replay streams through: a refused connection read none of it, so it may be sent
  // again, and must then arrive whole.
  const large = 'x'.repeat(200 * 1024);
  for (let i = 0; i < 10; i++) {
    const r = await mesh.get('/refused/large', { method: 'POST', body: large });
    assert.equal(r.status, 200, r.body);
  }
  const arrived = live.app.received.filter((r) => r.path === '/refused/large');
  assert.equal(arrived.length, 10);
  assert.ok(arrived.every((r) => r.body === large), 'every large body arrived whole');
});

test('a POST is not retried once it was sent; a GET on the same failure is', async () => {
  const first = await mesh.addInstance('posts', 'reset-before-response');
  const second = await mesh.addInstance('posts', 'ok');
  let postsFailed = 0;
  for (let i = 0; i < 10; i++) {
    const r = await mesh.get('/posts/x', { method: 'POST', body: 'order' });
    if (r.status === 502) postsFailed++;
    else assert.equal(r.status, 200);
  }
  const postsAtFirst = first.app.received.filter((r) => r.method === 'POST').length;
  const postsAtSecond = second.app.received.filter((r) => r.method === 'POST').length;
  assert.equal(postsAtFirst + postsAtSecond, 10, 'every POST was sent exactly once');
  assert.equal(postsFailed, postsAtFirst);
  for (let i = 0; i < 10; i++) assert.equal((await mesh.get('/posts/x')).status, 200);
});

test('retry budget: during an outage retries add bounded load on the failing upstream', async () => {
  const N = 200;
  const load = async (service: string) => {
    const { app } = await mesh.addInstance(service, 'error');
    for (let i = 0; i < N; i++) assert.equal((await mesh.get(`/${service}/x`)).status, 503);
    return app.received.length;
  };
  const without = await load('outage-open');
  const withBudget = await load('outage-budget');
  const withDefault = await load('outage-default');
  const added = (n: number) => `${n} requests reached it (${((n / N - 1) * 100).toFixed(0)}% added load)`;
  console.log(
    `retry budget (attempts 5, ${N} requests, upstream answering 503): without budget ${added(without)}; ` +
      `with a 20% budget ${added(withBudget)}; with the default budget (20% + 3/s floor) ${added(withDefault)}`,
  );
  assert.equal(without, N * 5);
  assert.ok(withBudget <= N * 1.25, `with budget ${withBudget}`);
  assert.ok(withBudget > N, 'some retries were still made');
  assert.ok(withDefault <= N * 1.2 + 30 + 1, `with the default budget ${withDefault}`);
});

test('outlier ejection: a failing endpoint is ejected, traffic goes to the healthy one, and it returns after the interval', async () => {
  const bad = await mesh.addInstance('flaky', 'error');
  await bad.app.setMode('error', { status: 500 });
  const good = await mesh.addInstance('flaky', 'ok');
  for (let i = 0; i < 60 && bad.app.received.length < 3; i++) await mesh.get('/flaky/x');
  assert.equal(bad.app.received.length, 3);
  const atEjection = bad.app.received.length;
  for (let i = 0; i < 10; i++) assert.equal((await mesh.get('/flaky/x')).status, 200);
  assert.equal(bad.app.received.length, atEjection, 'the ejected endpoint gets no traffic');
  assert.match(await mesh.admin('/metrics'), /meshgate_outlier_ejections_total\{tier="edge",service="flaky"\} 1/);
  assert.ok(good.app.received.length >= 10);
  // Healed: once the interval is over it is balanced again.
  await bad.app.setMode('ok');
  await waitFor(async () => (await mesh.get('/flaky/x')).status === 200 && bad.app.received.length > atEjection, 'the endpoint to return', 10_000, 20);
});

test('pool overflow: beyond maxConnections + maxPending the answer is 503 overloaded at once', async () => {
  const { app } = await mesh.addInstance('narrow', 'slow');
  const first = mesh.get('/narrow/x');
  await app.waitForHeld(1);
  const overflow = await mesh.get('/narrow/x');
  assert.equal(overflow.status, 503);
  assert.equal(overflow.json().error.code, 'overloaded');
  assert.equal(app.received.length, 1);
  app.release();
  assert.equal((await first).status, 200);
  await app.setMode('ok');
  assert.equal((await mesh.get('/narrow/x')).status, 200); // capacity came back with the answer
});

test('a client that goes away cancels the request on every hop: the app sees its caller leave at once', async () => {
  const held = await mesh.addInstance('held', 'slow');
  const { port } = new URL(mesh.edgeUrl);
  const socket = net.connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write('GET /held/x HTTP/1.1\r\nHost: a\r\n\r\n');
  await held.app.waitForHeld(1);
  socket.destroy();
  // The route allows 60 s: only the cancellation (edge → sidecar → app) ends the app's request this soon.
  await waitFor(() => held.app.abandoned === 1, 'the app to see its held request abandoned', 10_000);
});

test('clients that give up are neither retried nor counted against the upstream: the app gets each request once, the breaker stays closed', async () => {
  const { app } = await mesh.addInstance('left', 'slow');
  const { port } = new URL(mesh.edgeUrl);
  // Six GETs (idempotent, retried on a reset by this route) whose clients leave while the app holds them. Before,
  // the mesh took each departure for an upstream reset: it sent the request again on every hop, and counted it as
  // a failure, so a few impatient clients opened the breaker for everyone.
  for (let i = 1; i <= 6; i++) {
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(`GET /left/${i} HTTP/1.1\r\nHost: a\r\n\r\n`);
    await app.waitForHeld(i);
    socket.destroy();
    await waitFor(() => app.abandoned === i, `the app to see request ${i} abandoned`, 10_000);
  }
  await app.setMode('ok');
  const res = await mesh.get('/left/after');
  assert.equal(res.status, 200, res.body);
  assert.equal((await mesh.admin('/config')).breakers.left, 'closed');
  // A replay would have reached the app before the request sent after them.
  assert.deepEqual(
    app.received.map((r) => r.path),
    ['/left/1', '/left/2', '/left/3', '/left/4', '/left/5', '/left/6', '/left/after'],
  );
});
