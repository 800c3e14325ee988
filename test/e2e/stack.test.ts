// End to end on `npm run stack` (compose/stack.ts): every component its own process on real etcd and Redis, and
// the operations walkthroughs of docs/operations.md driven through the real CLI — a traced request found by its
// x-request-id, a route change converged per `meshgate status --wait`, a revoked token refused on every sidecar.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startStack, type Stack } from '../../compose/stack.js';
import type { ReceivedSpan } from '../support/otlp-receiver.js';

let stack: Stack;
let token: string;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshgate-e2e-'));
  // The in-repo receiver even when Jaeger is installed: the test reads the spans it got.
  stack = await startStack({ otlp: 'receiver', dir: join(dir, 'stack') });
  const issued = await stack.meshgate(['token', '--sub', 'e2e-user', '--scope', 'echo:read orders:read', '--ttl', '600']);
  assert.equal(issued.code, 0, issued.stderr);
  token = issued.stdout.trim();
});

after(async () => {
  const pids = stack?.processes.map((p) => p.pid) ?? [];
  await stack?.stop();
  // Torn down: no component the stack started is left running.
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `pid ${pid} still running`);
  rmSync(dir, { recursive: true, force: true });
});

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const res = await request(url, { headers });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

/** Re-check until `ok` or the deadline: config and revocations arrive by etcd watch, asynchronously. */
async function eventually<T>(f: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await f();
  while (!ok(last) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    last = await f();
  }
  return last;
}

function logLines(name: string): Record<string, unknown>[] {
  const file = stack.processes.find((p) => p.name === name)!.logFile;
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('every component runs as its own process, and both edges route to the sidecars', async () => {
  const names = stack.processes.map((p) => p.name).sort();
  for (const name of ['authz', 'quota', 'registry', 'edge-1', 'edge-2', 'echo-app', 'echo-sidecar', 'inventory-app', 'inventory-sidecar', 'orders-app', 'orders-sidecar'])
    assert.ok(names.includes(name), `${name} missing from ${names.join(', ')}`);
  assert.equal(new Set(stack.processes.map((p) => p.pid)).size, stack.processes.length, 'one pid per component');
  for (const edge of stack.edges) {
    const pub = await get(`${edge.http}/public/hello`);
    assert.equal(pub.status, 200, pub.body);
    assert.equal(JSON.parse(pub.body).service, 'echo');
    const denied = await get(`${edge.http}/echo/hi`);
    assert.equal(denied.status, 401, denied.body);
    const orders = await get(`${edge.http}/orders`, { authorization: `Bearer ${token}` });
    assert.equal(orders.status, 200, orders.body);
    const body = JSON.parse(orders.body);
    assert.equal(body.subject, 'e2e-user');
    assert.equal(body.inventory.service, 'inventory', 'orders reached inventory east-west through its sidecar');
  }
});

test('a traced /orders request: found by x-request-id in the access log, spans from every hop linked by parent ids', async () => {
  const requestId = `e2e-${randomUUID()}`;
  const res = await get(`${stack.edges[1].http}/orders`, { authorization: `Bearer ${token}`, 'x-request-id': requestId });
  assert.equal(res.status, 200, res.body);
  // Walkthrough: the access log line carries the request id and the trace id.
  const line = await eventually(
    async () => logLines('edge-2').find((l) => l.requestId === requestId),
    (l) => l !== undefined,
  );
  assert.ok(line, 'edge-2 access log has the request');
  const traceId = String(line.traceId);
  assert.match(traceId, /^[0-9a-f]{32}$/);
  const hops = ['meshgate-edge', 'meshgate-sidecar-orders', 'meshgate-sidecar-inventory'];
  const receiver = stack.otlp.receiver!;
  const spans = (
    await receiver.waitFor((all) => {
      const trace = all.filter((s) => s.traceId === traceId);
      return hops.every((h) => trace.some((s) => s.serviceName === h && s.kind === 'SPAN_KIND_SERVER'));
    }, 20_000)
  ).filter((s) => s.traceId === traceId);
  // One trace: a single root (the edge's server span), every other span's parent is in the trace.
  const ids = new Set(spans.map((s) => s.spanId));
  const roots = spans.filter((s) => !s.parentSpanId);
  assert.equal(roots.length, 1, `one root span, got ${roots.map((s) => `${s.serviceName}:${s.name}`).join(', ')}`);
  assert.equal(roots[0].serviceName, 'meshgate-edge');
  for (const s of spans) if (s.parentSpanId) assert.ok(ids.has(s.parentSpanId), `${s.serviceName} ${s.name} has its parent in the trace`);
  // The chain edge → orders sidecar → (orders app) → orders sidecar outbound → inventory sidecar.
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const inventoryServer = spans.find((s) => s.serviceName === 'meshgate-sidecar-inventory' && s.kind === 'SPAN_KIND_SERVER')!;
  const chain: ReceivedSpan[] = [];
  for (let s: ReceivedSpan | undefined = inventoryServer; s; s = byId.get(s.parentSpanId)) chain.push(s);
  const services = chain.map((s) => s.serviceName);
  assert.equal(services.at(-1), 'meshgate-edge');
  assert.ok(services.includes('meshgate-sidecar-orders'), `inventory's span descends from orders' sidecar: ${services.join(' ← ')}`);
  assert.equal(roots[0].attributes['meshgate.route'], 'orders');
  // Jaeger's tag search finds it by the request id too.
  assert.equal(roots[0].attributes['meshgate.request_id'], requestId);
});

test('a route change is applied and converges on every node per `meshgate status --wait`', async () => {
  const routes = readFileSync(new URL('../../compose/routes.yaml', import.meta.url), 'utf8');
  const changed = `${routes}
  - name: hello-v2
    matches:
      - path: { type: PathPrefix, value: /hello-v2 }
    backendRefs: [{ name: echo }]
`;
  const file = join(dir, 'routes.yaml');
  writeFileSync(file, changed);
  const before = await get(`${stack.edges[0].http}/hello-v2`);
  assert.equal(before.status, 404, 'no such route yet');

  const diff = await stack.meshgate(['diff', file]);
  assert.equal(diff.code, 0, diff.stderr);
  assert.match(diff.stdout, /hello-v2/);
  const applied = await stack.meshgate(['apply', file, '--message', 'e2e: add hello-v2']);
  assert.equal(applied.code, 0, applied.stderr);
  const version = Number(/applied version (\d+)/.exec(applied.stdout)?.[1]);
  assert.equal(version, stack.version + 1);

  const status = await stack.meshgate(['status', '--wait', String(version), '--timeout', '30', '--json']);
  assert.equal(status.code, 0, status.stderr + status.stdout);
  const rollout = JSON.parse(status.stdout) as { complete: boolean; nodes: { id: string; role: string; version?: number }[] };
  assert.equal(rollout.complete, true);
  const ids = rollout.nodes.map((n) => n.id).sort();
  assert.deepEqual(ids, ['echo-1', 'edge-1', 'edge-2', 'inventory-1', 'orders-1']);
  for (const n of rollout.nodes) assert.ok((n.version ?? 0) >= version, `${n.id} serves ${n.version}`);

  // Converged means served: both edges route the new path now, no waiting.
  for (const edge of stack.edges) {
    const res = await get(`${edge.http}/hello-v2/x`);
    assert.equal(res.status, 200, res.body);
    const config = JSON.parse((await get(`${edge.admin}/config`)).body) as { version: number };
    assert.equal(config.version, version);
  }
});

test('a revoked token is refused on every sidecar and through every edge', async () => {
  const issued = await stack.meshgate(['token', '--sub', 'e2e-revoked', '--scope', 'echo:read orders:read', '--ttl', '600']);
  assert.equal(issued.code, 0, issued.stderr);
  const victim = issued.stdout.trim();
  const auth = { authorization: `Bearer ${victim}` };
  // Straight at each sidecar's inbound listener, on a route of its own service.
  const probes = {
    echo: `http://127.0.0.1:${stack.sidecars.echo.inbound}/echo/hi`,
    inventory: `http://127.0.0.1:${stack.sidecars.inventory.inbound}/inventory/items`,
    orders: `http://127.0.0.1:${stack.sidecars.orders.inbound}/orders`,
  };
  for (const [service, url] of Object.entries(probes)) {
    const res = await get(url, auth);
    assert.equal(res.status, 200, `${service} accepts the token before revocation: ${res.body}`);
  }

  const revoked = await stack.meshgate(['revoke', '--token', victim, '--reason', 'e2e walkthrough']);
  assert.equal(revoked.code, 0, revoked.stderr);

  for (const [service, url] of Object.entries(probes)) {
    const res = await eventually(() => get(url, auth), (r) => r.status === 401);
    assert.equal(res.status, 401, `${service} refuses the revoked token: ${res.body}`);
    assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/);
    assert.equal(JSON.parse(res.body).error.code, 'invalid_token');
  }
  for (const edge of stack.edges) assert.equal((await get(`${edge.http}/echo/hi`, auth)).status, 401);
  // Another user's token is unaffected.
  assert.equal((await get(`${stack.edges[0].http}/echo/hi`, { authorization: `Bearer ${token}` })).status, 200);
});
