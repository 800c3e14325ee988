// SIGTERM drain of a real `meshgate sidecar` process against a real etcd: readiness fails, its endpoint key
// leaves etcd, the request it is holding completes with 200, and the process exits 0.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startEtcd, type EtcdProcess } from '../support/start-etcd.js';
import { runMeshgate, spawnMeshgate, type MeshProcess } from '../support/spawn-mesh.js';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { openStore } from '../../core/store/open-store.js';
import type { Store } from '../../core/store/store.js';
import { waitFor } from '../support/wait-for.js';

const CONFIG = `apiVersion: meshgate/v1
services:
  - name: held
routes:
  - name: held
    matches: [{ path: { value: /held } }]
    backendRefs: [{ name: held }]
`;

let etcd: EtcdProcess;
let dir: string;
let app: FakeUpstream;
let store: Store;
let sidecar: MeshProcess | undefined;

before(async () => {
  etcd = await startEtcd();
  dir = mkdtempSync(join(tmpdir(), 'meshgate-sigterm-'));
  writeFileSync(join(dir, 'routes.yaml'), CONFIG);
  const applied = await runMeshgate(['apply', join(dir, 'routes.yaml'), '--etcd', etcd.endpoint, '--message', 'test']);
  assert.equal(applied.code, 0, applied.stderr);
  app = await startFakeUpstream('held-app', 'slow');
  store = openStore({ etcd: etcd.endpoint, prefix: '/meshgate/' });
});

after(async () => {
  await sidecar?.stop('SIGKILL');
  await app?.close();
  await store?.close();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('SIGTERM: fail readiness, deregister, finish the in-flight request, exit 0', async () => {
  sidecar = spawnMeshgate(
    ['sidecar', '--service', 'held', '--app', app.address, '--inbound-port', '0', '--outbound-port', '0', '--admin-port', '0', '--node-id', 'held-1'],
    { MESHGATE_ETCD: etcd.endpoint, MESHGATE_STATE_DIR: join(dir, 'state'), MESHGATE_HOST: '127.0.0.1' },
  );
  const listening = await sidecar.waitForLine((l) => l.msg === 'sidecar listening');
  const admin = await sidecar.waitForLine((l) => l.msg === 'admin listening');
  const inbound = `http://127.0.0.1:${listening.inboundPort}`;
  const adminUrl = `http://127.0.0.1:${admin.port}`;
  const registered = async () => (await store.getPrefix('endpoints/held/')).size;
  await waitFor(async () => (await registered()) === 1, 'the endpoint in etcd');
  await waitFor(async () => (await request(`${adminUrl}/readyz`)).statusCode === 200, 'ready');

  const inFlight = request(`${inbound}/held/x`).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }));
  await app.waitForHeld(1);
  const exited = sidecar.stop('SIGTERM');

  await waitFor(async () => (await request(`${adminUrl}/readyz`).then((r) => r.statusCode, () => 0)) === 503, 'readiness to fail');
  await waitFor(async () => (await registered()) === 0, 'the endpoint to leave etcd');
  app.release();
  const res = await inFlight;
  assert.equal(res.status, 200, res.body);
  assert.equal(JSON.parse(res.body).upstream, 'held-app');
  assert.equal(await exited, 0);
  assert.ok(sidecar.lines.some((l) => l.msg === 'draining' && l.signal === 'SIGTERM'));
});
