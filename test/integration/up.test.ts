// `meshgate up` as a real process: the demo works through edge → sidecar → app, errors are the JSON of
// DESIGN §4, one /orders request is one trace across every hop at a real OTLP receiver, and config edits
// apply live (an invalid edit is refused while the old config keeps serving).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { connect } from 'node:net';
import { spawnMeshgate, type MeshProcess } from '../support/spawn-mesh.js';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js';

let mesh: MeshProcess;
let otlp: OtlpReceiver;
let dir: string;
let edge: string;
let token: string;
let configFile: string;
/** The operator's admin credential: never to be logged. */
const ADMIN_TOKEN = 'operator-admin-token-7f3a9c1e5b';

before(async () => {
  otlp = await startOtlpReceiver();
  dir = mkdtempSync(join(tmpdir(), 'meshgate-up-'));
  configFile = join(dir, 'routes.yaml');
  copyFileSync('compose/routes.yaml', configFile);
  mesh = spawnMeshgate(['up', '--ephemeral', '--config', configFile, '--state-dir', join(dir, 'state')], {
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
    MESHGATE_TRACE_SAMPLE_RATIO: '1',
    MESHGATE_ADMIN_TOKEN: ADMIN_TOKEN,
  });
  const ready = (await mesh.waitForLine((l) => l.msg === 'mesh ready', 60_000)) as { urls: { edge: string }; token: string };
  edge = ready.urls.edge;
  token = ready.token;
});

after(async () => {
  const code = await mesh?.stop();
  await otlp?.close();
  rmSync(dir, { recursive: true, force: true });
  assert.equal(code, 0, 'meshgate up exits cleanly on SIGTERM');
});

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await request(`${edge}${path}`, { headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

test('a public route answers 200 through edge → sidecar → echo, with the normalized path', async () => {
  const res = await get('/public/../public/./hello?x=1');
  assert.equal(res.status, 200);
  assert.equal(res.json.service, 'echo');
  assert.equal(res.json.path, '/public/hello');
  assert.deepEqual(res.json.query, { x: '1' });
  assert.match(res.json.headers.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  assert.ok(res.json.headers['x-request-id']);
  assert.equal(res.headers['x-request-id'], res.json.headers['x-request-id']);
});

test('client-supplied identity and hop-by-hop headers never reach the app', async () => {
  const res = await rawGet('/public/x', [
    'x-auth-subject: admin',
    'x-auth-claims: e30',
    'x-meshgate-client-ip: 1.2.3.4',
    'connection: close, x-secret',
    'x-secret: v',
    'keep-alive: timeout=5',
  ]);
  assert.equal(res.status, 200);
  assert.equal(res.json.headers['x-auth-subject'], undefined);
  assert.equal(res.json.headers['x-auth-claims'], undefined);
  assert.equal(res.json.headers['x-secret'], undefined, 'a header named in Connection is hop-by-hop');
  assert.equal(res.json.headers['keep-alive'], undefined);
  assert.notEqual(res.json.headers['x-meshgate-client-ip'], '1.2.3.4');
});

/** A request written byte by byte, so the client library cannot rewrite hop-by-hop headers. */
function rawGet(path: string, headerLines: string[]): Promise<{ status: number; json: Record<string, any> }> {
  const { hostname, port } = new URL(edge);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nhost: ${hostname}\r\n${headerLines.map((l) => `${l}\r\n`).join('')}\r\n`);
    });
    let data = '';
    socket.setEncoding('utf8').on('data', (c) => (data += c));
    socket.on('error', reject);
    socket.on('end', () => {
      const [head, body] = data.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), json: JSON.parse(body) });
    });
  });
}

test('a valid x-request-id and traceparent are propagated', async () => {
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const res = await get('/public/x', { 'x-request-id': 'req-123', traceparent });
  assert.equal(res.json.headers['x-request-id'], 'req-123');
  assert.match(res.json.headers.traceparent, /^00-4bf92f3577b34da6a3ce929d0e0e4736-/);
  const bad = await get('/public/x', { 'x-request-id': 'bad id with spaces', traceparent: '00-zz-yy-01' });
  assert.notEqual(bad.json.headers['x-request-id'], 'bad id with spaces');
  assert.doesNotMatch(bad.json.headers.traceparent, /zz/);
  // tracestate goes with a valid traceparent only (W3C Trace Context §3.3.1); the client's copy reached the app.
  assert.equal((await get('/public/x', { traceparent, tracestate: 'vendor=a' })).json.headers.tracestate, 'vendor=a');
  assert.equal((await get('/public/x', { tracestate: 'vendor=a' })).json.headers.tracestate, undefined);
  assert.equal((await get('/public/x', { traceparent: '00-zz-yy-01', tracestate: 'vendor=a' })).json.headers.tracestate, undefined);
});

test('/echo without a token is a 401 JSON error with WWW-Authenticate', async () => {
  const res = await get('/echo/hi');
  assert.equal(res.status, 401);
  assert.match(String(res.headers['www-authenticate']), /^Bearer/);
  assert.equal(res.json.error.code, 'invalid_token');
  assert.ok(res.json.error.requestId);
  const malformed = await get('/echo/hi', { authorization: 'Bearer not.a.jwt' });
  assert.equal(malformed.status, 401);
});

test('/public/../echo does not bypass /echo auth', async () => {
  const res = await get('/public/../echo/hi');
  assert.equal(res.status, 401);
  const encoded = await get('/public/%2e%2e/echo/hi');
  assert.equal(encoded.status, 401);
});

test('/echo with the dev token answers 200 and the app sees the identity', async () => {
  const res = await get('/echo/hi', { authorization: `Bearer ${token}` });
  assert.equal(res.status, 200);
  assert.equal(res.json.headers['x-auth-subject'], 'dev-user');
  const claims = JSON.parse(Buffer.from(res.json.headers['x-auth-claims'], 'base64url').toString());
  assert.equal(claims.sub, 'dev-user');
  assert.equal(res.json.headers.authorization, `Bearer ${token}`);
  assert.equal(res.headers['x-served-by'], 'meshgate');
});

test('unknown paths are a 404 JSON error', async () => {
  const res = await get('/nowhere');
  assert.equal(res.status, 404);
  assert.equal(res.json.error.code, 'no_route');
});

test('a malformed request target is a 400, not a crash', async () => {
  const res = await get('/public/%zz');
  assert.equal(res.status, 400);
  assert.equal(res.json.error.code, 'bad_request');
  assert.equal((await get('/public/ok')).status, 200);
});

test('/orders returns data from both demo services, as one trace across every hop', async () => {
  const res = await get('/orders', { authorization: `Bearer ${token}` });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.equal(res.json.service, 'orders');
  assert.equal(res.json.inventory.service, 'inventory');
  assert.equal(res.json.inventory.subject, 'dev-user');
  // Find the trace: the edge server span for /orders carries the request id.
  const requestId = String(res.headers['x-request-id']);
  const spans = await otlp.waitFor((all) => {
    const root = all.find((s) => s.attributes['meshgate.request_id'] === requestId && s.attributes['meshgate.tier'] === 'edge');
    return !!root && all.filter((s) => s.traceId === root.traceId).length >= 8;
  });
  const root = spans.find((s) => s.attributes['meshgate.request_id'] === requestId && s.attributes['meshgate.tier'] === 'edge')!;
  const trace = spans.filter((s) => s.traceId === root.traceId);
  const byId = new Map(trace.map((s) => [s.spanId, s]));
  // Every span but the root has its parent in the same trace: one connected tree.
  for (const s of trace) if (s !== root) assert.ok(byId.has(s.parentSpanId), `span ${s.name} has its parent in the trace`);
  const tiers = trace.filter((s) => s.kind === 'SPAN_KIND_SERVER').map((s) => s.attributes['meshgate.tier']).sort();
  assert.deepEqual(tiers, ['edge', 'sidecar-inbound', 'sidecar-inbound', 'sidecar-outbound']);
  assert.equal(root.attributes['http.route'], '/orders');
  assert.equal(root.attributes['meshgate.route'], 'orders');
  // edge → orders sidecar → orders app → its outbound sidecar → inventory sidecar → inventory app
  const inventoryServer = trace.find((s) => s.kind === 'SPAN_KIND_SERVER' && s.attributes['meshgate.route'] === 'inventory' && s.attributes['meshgate.tier'] === 'sidecar-inbound');
  assert.ok(inventoryServer, 'the inventory sidecar took part in the trace');
  // OTel HTTP semantic conventions: client spans named {method}, server.address the host alone and server.port the
  // port (it was "127.0.0.1:43179"), url.scheme on server spans.
  const clients = trace.filter((s) => s.kind === 'SPAN_KIND_CLIENT');
  assert.ok(clients.length >= 3);
  for (const c of clients) {
    assert.equal(c.name, 'GET');
    assert.equal(c.attributes['server.address'], '127.0.0.1');
    assert.equal(typeof c.attributes['server.port'], 'number');
    assert.equal(c.attributes['http.response.status_code'], 200);
  }
  assert.equal(root.attributes['url.scheme'], 'http');
  assert.equal(root.name, 'GET /orders');
});

test('editing the config applies live; an invalid edit is refused and the old config keeps serving', async () => {
  const original = readFileSync(configFile, 'utf8');
  assert.equal((await get('/fresh')).status, 404);
  writeFileSync(
    configFile,
    `${original}\n  - name: fresh\n    matches: [{ path: { value: /fresh } }]\n    backendRefs: [{ name: echo }]\n`,
  );
  await waitUntil(async () => (await get('/fresh')).status === 200);
  writeFileSync(configFile, `${original}\n  - name: broken\n    matches: []\n    backendRefs: [{ name: missing }]\n`);
  await mesh.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('config rejected'));
  assert.equal((await get('/fresh')).status, 200, 'the last good config still serves');
  assert.equal((await get('/public/x')).status, 200);
});

test('a live edit is read as validate reads a file: bytes that are not UTF-8 are refused, naming the line', async () => {
  // Before: read with readFile(…, 'utf8'), a bad byte became U+FFFD silently and the config applied.
  const original = readFileSync(configFile);
  writeFileSync(configFile, Buffer.concat([original, Buffer.from('\n  - name: caf\xe9\n    matches: [{ path: { value: /cafe } }]\n    backendRefs: [{ name: echo }]\n', 'latin1')]));
  const line = (await mesh.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('config rejected') && JSON.stringify(l.errors).includes('UTF-8'))) as { errors: string[] };
  assert.match(line.errors[0], /routes\.yaml:\d+: .*not UTF-8/);
  assert.equal((await get('/cafe')).status, 404, 'not applied');
  writeFileSync(configFile, original);
});

test('an admin token the operator gave is never logged: not in the JSON ready line, nowhere on stdout or stderr', async () => {
  const ready = mesh.lines.find((l) => l.msg === 'mesh ready')!;
  assert.equal('adminToken' in ready, false);
  assert.ok(mesh.lines.some((l) => typeof l.text === 'string' && l.text.includes('(from MESHGATE_ADMIN_TOKEN)')), 'the banner says where it came from');
  assert.equal(mesh.lines.some((l) => JSON.stringify(l).includes(ADMIN_TOKEN)), false);
  assert.equal(mesh.stderr.includes(ADMIN_TOKEN), false);
});

test('a config file replaced by rename (sed -i, an editor\'s atomic save) or deleted and written again keeps reloading', async () => {
  const base = readFileSync('compose/routes.yaml', 'utf8');
  const withRoute = (name: string) => `${base}\n  - name: ${name}\n    matches: [{ path: { value: /${name} } }]\n    backendRefs: [{ name: echo }]\n`;
  const replace = (text: string) => {
    const tmp = join(dir, 'routes.yaml.tmp');
    writeFileSync(tmp, text);
    renameSync(tmp, configFile);
  };
  replace(withRoute('renamed'));
  await waitUntil(async () => (await get('/renamed')).status === 200);
  replace(withRoute('renamed-again'));
  await waitUntil(async () => (await get('/renamed-again')).status === 200);
  unlinkSync(configFile);
  await mesh.waitForLine((l) => l.msg === 'config file is gone; the current config keeps serving');
  assert.equal((await get('/renamed-again')).status, 200);
  writeFileSync(configFile, withRoute('recreated'));
  await waitUntil(async () => (await get('/recreated')).status === 200);
  const rejected = () => mesh.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('config rejected')).length;
  const rejectedBefore = rejected();
  replace(`${withRoute('recreated')}\n  - name: broken\n    matches: []\n    backendRefs: [{ name: missing }]\n`);
  await waitUntil(async () => rejected() > rejectedBefore);
  assert.equal((await get('/recreated')).status, 200, 'an invalid replacement is refused; the last good config still serves');
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not met in time');
}
