// Quota on the wire, real processes: etcd, Redis, `meshgate quota`, two echo sidecars sharing global policies and an
// edge. Exactly the limit is admitted across both sidecars, the rest is 429 with the JSON error and headers; with
// Redis stopped an `open` route admits and a `closed` one answers 503, and both recover when Redis is back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startEtcd, type EtcdProcess } from '../support/start-etcd.js';
import { startRedis, type RedisProcess } from '../support/start-redis.js';
import { runMeshgate, spawnMeshgate, type MeshProcess } from '../support/spawn-mesh.js';
import { waitFor } from '../support/wait-for.js';
import { startEcho, type DemoApp } from '../../compose/demo/apps.js';

// Day windows keep the counts from resetting mid-test (the window start is on Redis' clock, aligned to UTC days).
const CONFIG = `apiVersion: meshgate/v1
services:
  - name: echo
routes:
  - name: limited
    matches: [{ path: { value: /limited } }]
    backendRefs: [{ name: echo }]
    quota:
      - { limit: 6, window: day, key: [header:x-client], scope: global, failureMode: open }
  - name: strict
    matches: [{ path: { value: /strict } }]
    backendRefs: [{ name: echo }]
    quota:
      - { limit: 100, window: day, key: [header:x-client], scope: global, failureMode: closed }
  - name: local
    matches: [{ path: { value: /local } }]
    backendRefs: [{ name: echo }]
    quota:
      - { limit: 2, window: day, key: [header:x-client] }
`;

let etcd: EtcdProcess;
let redis: RedisProcess;
let dir: string;
let app: DemoApp;
const procs: MeshProcess[] = [];
const sidecarAdmins: string[] = [];
let edgeUrl: string;

before(async () => {
  [etcd, redis] = await Promise.all([startEtcd(), startRedis()]);
  dir = mkdtempSync(join(tmpdir(), 'meshgate-quota-'));
  writeFileSync(join(dir, 'routes.yaml'), CONFIG);
  const applied = await runMeshgate(['apply', join(dir, 'routes.yaml'), '--etcd', etcd.endpoint, '--message', 'quota test']);
  assert.equal(applied.code, 0, applied.stderr);
  app = await startEcho();
  const quota = spawnMeshgate(['quota', '--grpc-port', '0', '--http-port', '0', '--host', '127.0.0.1', '--redis', redis.url]);
  procs.push(quota);
  const quotaPort = (await quota.waitForLine((l) => l.msg === 'quota-svc listening')).grpcPort as number;
  const env = { MESHGATE_ETCD: etcd.endpoint, MESHGATE_HOST: '127.0.0.1', MESHGATE_QUOTA: `127.0.0.1:${quotaPort}` };
  for (let i = 0; i < 2; i++) {
    const sidecar = spawnMeshgate(
      ['sidecar', '--service', 'echo', '--app', `127.0.0.1:${app.port}`, '--inbound-port', '0', '--outbound-port', '0', '--admin-port', '0'],
      { ...env, MESHGATE_STATE_DIR: join(dir, `state-${i}`) },
    );
    procs.push(sidecar);
    sidecarAdmins.push(`http://127.0.0.1:${(await sidecar.waitForLine((l) => l.msg === 'admin listening')).port}`);
    await sidecar.waitForLine((l) => l.msg === 'sidecar listening');
  }
  const edge = spawnMeshgate(['edge', '--http-port', '0', '--no-https', '--admin-port', '0'], { ...env, MESHGATE_STATE_DIR: join(dir, 'state-edge') });
  procs.push(edge);
  edgeUrl = `http://127.0.0.1:${(await edge.waitForLine((l) => l.msg === 'edge http listening')).port}`;
  // Both sidecars registered and routable through the edge.
  await waitFor(async () => (await get('/local', 'warm-up')).status === 200, 'the edge to route to the sidecars');
});

after(async () => {
  for (const p of procs.reverse()) await p.stop();
  await app?.close();
  await Promise.all([etcd?.stop(), redis?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function get(path: string, client: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const res = await request(`${edgeUrl}${path}`, { headers: { 'x-client': client } });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) headers[k] = String(v);
  return { status: res.statusCode, headers, body: await res.body.text() };
}

async function metric(admin: string, pattern: RegExp): Promise<number> {
  const text = await (await request(`${admin}/metrics`)).body.text();
  return text
    .split('\n')
    .filter((line) => pattern.test(line))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

test('a global policy admits exactly its limit across two sidecars, then 429 with Retry-After and RateLimit headers', async () => {
  const client = randomUUID();
  const responses = [];
  for (let i = 0; i < 10; i++) responses.push(await get('/limited', client));
  assert.deepEqual(responses.map((r) => r.status), [200, 200, 200, 200, 200, 200, 429, 429, 429, 429]);
  for (const r of responses.slice(0, 6)) {
    assert.equal(r.headers['ratelimit-limit'], '6');
    assert.ok(Number(r.headers['ratelimit-remaining']) >= 0 && Number(r.headers['ratelimit-remaining']) < 6);
    assert.ok(Number(r.headers['ratelimit-reset']) > 0 && Number(r.headers['ratelimit-reset']) <= 86_400);
    assert.equal(r.headers['ratelimit-policy'], '"limited.0";q=6;w=86400');
    assert.match(r.headers['ratelimit'], /^"limited\.0";r=\d+;t=\d+$/);
  }
  const refused = responses[9];
  assert.equal(refused.headers['ratelimit-remaining'], '0');
  assert.ok(Number(refused.headers['retry-after']) >= 1);
  assert.match(refused.headers['content-type'], /application\/json/);
  const body = JSON.parse(refused.body);
  assert.equal(body.error.code, 'rate_limited');
  assert.equal(typeof body.error.requestId, 'string');
  // Both sidecars took part, and together they admitted exactly the limit.
  const checks = await Promise.all(sidecarAdmins.map((a) => metric(a, /^meshgate_quota_global_checks_total\{/)));
  assert.ok(checks.every((n) => n > 0), `every sidecar checked the global policy (${checks})`);
  const allowed = await Promise.all(sidecarAdmins.map((a) => metric(a, /^meshgate_quota_decisions_total\{policy="limited\.0",scope="global",outcome="allowed"\}/)));
  assert.equal(allowed[0] + allowed[1], 6);
  // Another client has its own quota.
  assert.equal((await get('/limited', randomUUID())).status, 200);
});

test('a local policy limits per sidecar and answers 429 the same way', async () => {
  const client = randomUUID();
  const statuses = [];
  for (let i = 0; i < 8; i++) statuses.push((await get('/local', client)).status);
  // Two sidecars with a bucket of 2 each: 2 to 4 admitted (depending on how the edge spread them), the rest 429.
  const admitted = statuses.filter((s) => s === 200).length;
  assert.ok(admitted >= 2 && admitted <= 4, `admitted ${admitted}: ${statuses}`);
  assert.equal(statuses.filter((s) => s === 429).length, 8 - admitted);
});

test('Redis stopped: the open route admits, the closed route answers 503; both recover when Redis is back', async () => {
  await redis.stop();
  try {
    const open = await get('/limited', randomUUID());
    assert.equal(open.status, 200, open.body);
    const closed = await get('/strict', randomUUID());
    assert.equal(closed.status, 503, closed.body);
    assert.equal(JSON.parse(closed.body).error.code, 'quota_unavailable');
    assert.ok(Number(closed.headers['retry-after']) >= 1);
    const degraded = await Promise.all(sidecarAdmins.map((a) => metric(a, /^meshgate_quota_fallback\{service="echo"\}/)));
    assert.ok(degraded.some((v) => v === 1), 'a sidecar reports the fallback state');
  } finally {
    await redis.start();
  }
  await waitFor(async () => (await get('/strict', randomUUID())).status === 200, 'the closed route to recover', 20_000, 200);
  type Ready = { quota?: { global?: { state?: string } } };
  await waitFor(
    async () => {
      const states = await Promise.all(sidecarAdmins.map(async (a) => ((await (await request(`${a}/readyz`)).body.json()) as Ready).quota?.global?.state));
      return states.every((s) => s === 'ok');
    },
    'both sidecars to report quota ok in /readyz',
    20_000,
    200,
  );
});
