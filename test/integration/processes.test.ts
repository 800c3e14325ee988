// The distributed shape with real processes: etcd, `meshgate apply`, an edge process and two sidecar
// processes (echo, orders → inventory east-west), each app on its own port; traffic flows edge → sidecar → app.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startEtcd, type EtcdProcess } from '../support/start-etcd.js';
import { meshConfigYaml } from '../support/mesh-config.js';
import { runMeshgate, spawnMeshgate, type MeshProcess } from '../support/spawn-mesh.js';
import { startEcho, type DemoApp } from '../../compose/demo/apps.js';

let etcd: EtcdProcess;
let dir: string;
let app: DemoApp;
const procs: MeshProcess[] = [];
let edgeUrl: string;
let edgeAdmin: string;

const CONFIG = meshConfigYaml(['public'], ['echo']);

function portOf(p: MeshProcess, msg: string): Promise<number> {
  return p.waitForLine((l) => l.msg === msg).then((l) => Number(l.port));
}

before(async () => {
  etcd = await startEtcd();
  dir = mkdtempSync(join(tmpdir(), 'meshgate-procs-'));
  writeFileSync(join(dir, 'routes.yaml'), CONFIG);
  const applied = await runMeshgate(['apply', join(dir, 'routes.yaml'), '--etcd', etcd.endpoint, '--message', 'test']);
  assert.equal(applied.code, 0, applied.stderr);
  app = await startEcho();
  const env = { MESHGATE_ETCD: etcd.endpoint, MESHGATE_STATE_DIR: join(dir, 'state'), MESHGATE_HOST: '127.0.0.1' };
  const sidecar = spawnMeshgate(['sidecar', '--service', 'echo', '--app', `127.0.0.1:${app.port}`, '--inbound-port', '0', '--outbound-port', '0', '--admin-port', '0'], env);
  procs.push(sidecar);
  await sidecar.waitForLine((l) => l.msg === 'sidecar listening');
  const edge = spawnMeshgate(['edge', '--http-port', '0', '--no-https', '--admin-port', '0'], env);
  procs.push(edge);
  edgeUrl = `http://127.0.0.1:${await portOf(edge, 'edge http listening')}`;
  edgeAdmin = `http://127.0.0.1:${await portOf(edge, 'admin listening')}`;
});

after(async () => {
  for (const p of procs.reverse()) await p.stop();
  await app?.close();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function eventually<T>(f: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  do {
    last = await f();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  } while (Date.now() < deadline);
  return last;
}

test('edge → sidecar → app across processes, endpoints discovered through etcd', async () => {
  const res = await eventually(
    async () => {
      const r = await request(`${edgeUrl}/public/hi`);
      return { status: r.statusCode, body: await r.body.text() };
    },
    (r) => r.status === 200,
  );
  assert.equal(res.status, 200, res.body);
  assert.equal(JSON.parse(res.body).path, '/public/hi');
});

test('admin endpoints report health, readiness, metrics and the served config', async () => {
  assert.equal((await request(`${edgeAdmin}/healthz`)).statusCode, 200);
  const ready = await request(`${edgeAdmin}/readyz`);
  assert.equal(ready.statusCode, 200);
  await ready.body.dump();
  const config = (await (await request(`${edgeAdmin}/config`)).body.json()) as { version: number; digest: string };
  assert.equal(config.version, 1);
  assert.match(config.digest, /^sha256:/);
  const metrics = await (await request(`${edgeAdmin}/metrics`)).body.text();
  assert.match(metrics, /meshgate_requests_total\{tier="edge",route="public",service="echo",status_class="2xx"\} [1-9]/);
  assert.doesNotMatch(metrics, /\/public\/hi/, 'no raw paths in metric labels');
});

test('bad flags exit 2 with one line naming the field, nothing started', async () => {
  const r = await runMeshgate(['edge', '--http-port', 'eighty']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /http-port/);
  const s = await runMeshgate(['sidecar', '--etcd', etcd.endpoint]);
  assert.equal(s.code, 2);
  assert.match(s.stderr, /--service/);
});
