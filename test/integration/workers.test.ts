// `meshgate sidecar --workers 2` as a real process on real etcd: both workers answer requests, /metrics on the
// shared admin port merges them (counters summed, gauges by their aggregator), each worker is its own node (nodes/
// and endpoints/ records), a killed worker is replaced in its slot without the node's counters going down, and
// SIGTERM stops them all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, type EtcdProcess } from '../support/start-etcd.js';
import { meshConfigYaml } from '../support/mesh-config.js';
import { runMeshgate, spawnMeshgate, type MeshProcess } from '../support/spawn-mesh.js';
import { startEcho, type DemoApp } from '../../compose/demo/apps.js';
import { EtcdStore } from '../../core/store/etcd-store.js';
import { SigningKeys } from '../../authz-svc/signing-keys.js';
import { waitFor } from '../support/wait-for.js';

const CONFIG = meshConfigYaml(['public'], ['echo']);
const NODE_ID = 'echo-t';

let etcd: EtcdProcess;
let store: EtcdStore;
let keys: SigningKeys;
let dir: string;
let app: DemoApp;
let sidecar: MeshProcess;
let inboundPort: number;
let adminPort: number;
let sent = 0;

/** One request on a connection of its own, so node:cluster hands each to the next worker in turn. */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
  });
}

/** Sends `count` requests, each with its own request id, and returns the pids whose access-log lines show them. */
async function pidsServing(count: number): Promise<Set<number>> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const requestId = `workers-${sent++}`;
    ids.push(requestId);
    const res = await get(inboundPort, '/public/hi', { 'x-request-id': requestId });
    assert.equal(res.status, 200, res.body);
  }
  const pids = new Set<number>();
  for (const requestId of ids) {
    const line = await sidecar.waitForLine((l) => l.component === 'access' && l.requestId === requestId, 10_000);
    pids.add(Number(line.pid));
  }
  return pids;
}

function workerPids(): Set<number> {
  return new Set(sidecar.lines.filter((l) => l.msg === 'sidecar listening').map((l) => Number(l.pid)));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  etcd = await startEtcd();
  store = new EtcdStore({ endpoints: etcd.endpoint });
  dir = mkdtempSync(join(tmpdir(), 'meshgate-workers-'));
  writeFileSync(join(dir, 'routes.yaml'), CONFIG);
  const applied = await runMeshgate(['apply', join(dir, 'routes.yaml'), '--etcd', etcd.endpoint, '--message', 'test']);
  assert.equal(applied.code, 0, applied.stderr);
  // Two public keys (active and next) that every worker mirrors.
  keys = await SigningKeys.create(store, { issuer: 'https://issuer.test' });
  app = await startEcho();
  sidecar = spawnMeshgate(
    ['sidecar', '--service', 'echo', '--app', `127.0.0.1:${app.port}`, '--workers', '2', '--node-id', NODE_ID,
      '--inbound-port', '0', '--outbound-port', '0', '--admin-port', '0'],
    { MESHGATE_ETCD: etcd.endpoint, MESHGATE_STATE_DIR: join(dir, 'state'), MESHGATE_HOST: '127.0.0.1' },
  );
  for (const slot of [1, 2]) await sidecar.waitForLine((l) => l.msg === 'snapshot swapped in' && l.node === `${NODE_ID}-w${slot}`, 60_000);
  await waitFor(() => workerPids().size === 2, 'two workers listening', 30_000);
  const listening = sidecar.lines.filter((l) => l.msg === 'sidecar listening');
  assert.equal(new Set(listening.map((l) => l.inboundPort)).size, 1, 'the workers share one inbound port');
  inboundPort = Number(listening[0].inboundPort);
  adminPort = Number(sidecar.lines.find((l) => l.msg === 'admin listening')!.port);
});

after(async () => {
  await sidecar?.stop('SIGKILL');
  await keys?.close();
  await store?.close();
  await app?.close();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The value of the sample whose line starts with `series` on the admin port's /metrics. */
async function sample(series: string): Promise<number> {
  const metrics = await get(adminPort, '/metrics');
  assert.equal(metrics.status, 200, metrics.body);
  const line = metrics.body.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `${series} in /metrics`);
  return Number(line.split(' ').pop());
}

const REQUESTS = 'meshgate_requests_total{tier="sidecar-inbound",route="public",service="echo",status_class="2xx"}';

test('requests are answered by both workers, and /metrics on the admin port is the sum over them', async () => {
  const pids = await pidsServing(20);
  assert.deepEqual([...pids].sort(), [...workerPids()].sort());
  const metrics = await get(adminPort, '/metrics');
  assert.equal(metrics.status, 200);
  assert.equal(await sample(REQUESTS), 20);
  // The duration histogram too (BatchedHistogram, through prom-client's AggregatorRegistry).
  const count = metrics.body.split('\n').find((l) => l.startsWith('meshgate_request_duration_seconds_count{') && l.includes('tier="sidecar-inbound"') && l.includes('route="public"'));
  assert.equal(Number(count?.split(' ').pop()), 20, count);
  const inf = metrics.body.split('\n').find((l) => l.startsWith('meshgate_request_duration_seconds_bucket{') && l.includes('le="+Inf"') && l.includes('route="public"') && l.includes('tier="sidecar-inbound"'));
  assert.equal(Number(inf?.split(' ').pop()), 20, inf);
});

test('/metrics: a gauge is merged by its aggregator, not summed over the workers', async () => {
  // Once every worker mirrors both keys (each says so in /readyz), the node holds 2 keys, not 2 per worker.
  await waitFor(async () => {
    const workers = (await readyz())?.body.workers as { auth?: { keys?: number } }[] | undefined;
    return workers?.length === 2 && workers.every((w) => w.auth?.keys === 2);
  }, 'both workers holding the two keys');
  assert.equal(await sample('meshgate_auth_keys'), 2);
});

/** GET /readyz on a connection of its own; a worker that cannot answer (stopped) times out: undefined. */
function readyz(): Promise<{ status: number; body: { notReady: string[]; workers: { slot: number; ready: boolean }[] } } | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: adminPort, path: '/readyz', agent: false, timeout: 4_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(body) }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

test('/readyz on the shared admin port is the node over all workers; a worker that cannot answer holds it down', async () => {
  const ready = await readyz();
  assert.equal(ready?.status, 200);
  assert.deepEqual(ready.body.workers.map((w) => [w.slot, w.ready]), [[1, true], [2, true]]);
  const [victim] = workerPids();
  const slot = Number(String(sidecar.lines.find((l) => l.msg === 'snapshot swapped in' && Number(l.pid) === victim)!.node).split('-w').pop());
  process.kill(victim, 'SIGSTOP');
  try {
    // The connection may land on the stopped worker (it times out): the next goes to the other one.
    let answer: Awaited<ReturnType<typeof readyz>>;
    await waitFor(async () => (answer = await readyz()) !== undefined, 'an answer from the running worker', 20_000);
    assert.equal(answer!.status, 503);
    assert.deepEqual(answer!.body.notReady, [`worker ${slot}: no answer`]);
  } finally {
    process.kill(victim, 'SIGCONT');
  }
  await waitFor(async () => (await readyz())?.status === 200, 'ready again once the worker answers', 20_000);
});

test('each worker is a node of its own: nodes/<id>-w<slot> and one endpoint each at the shared address', async () => {
  await waitFor(async () => (await store.getPrefix(`nodes/${NODE_ID}-`)).size === 2, 'two node records');
  const nodes = await store.getPrefix(`nodes/${NODE_ID}-`);
  assert.deepEqual([...nodes.keys()].sort(), [`nodes/${NODE_ID}-w1`, `nodes/${NODE_ID}-w2`]);
  await waitFor(async () => (await store.getPrefix('endpoints/echo/')).size === 2, 'two endpoints');
  const endpoints = await store.getPrefix('endpoints/echo/');
  assert.deepEqual([...endpoints.keys()].sort(), [`endpoints/echo/${NODE_ID}-w1`, `endpoints/echo/${NODE_ID}-w2`]);
  const addresses = new Set([...endpoints.values()].map((v) => JSON.parse(v).address));
  assert.deepEqual([...addresses], [`127.0.0.1:${inboundPort}`]);
});

test('a killed worker is replaced in its slot and serves; the node\'s counters do not go down', async () => {
  const before = workerPids();
  const [victim] = before;
  // Read now, with what the victim counted: the primary keeps it when the victim is gone.
  assert.equal(await sample(REQUESTS), sent);
  const seconds = 'meshgate_request_duration_seconds_count{tier="sidecar-inbound",route="public",service="echo",status_class="2xx"}';
  assert.equal(await sample(seconds), sent);
  process.kill(victim, 'SIGKILL');
  const died = await sidecar.waitForLine((l) => l.msg === 'worker died; starting another' && l.pid === victim);
  const replaced = await sidecar.waitForLine((l) => l.msg === 'snapshot swapped in' && l.node === `${NODE_ID}-w${died.slot}` && l.pid !== victim, 60_000);
  await waitFor(() => workerPids().size === 3, 'the new worker listening', 30_000);
  let serving = new Set<number>();
  await waitFor(async () => (serving = await pidsServing(4)).has(Number(replaced.pid)), `the new worker ${replaced.pid} answering`);
  assert.ok(!serving.has(victim));
  // Every request ever answered, the victim's included (a drop would read as a counter reset to Prometheus).
  assert.equal(await sample(REQUESTS), sent);
  assert.equal(await sample(seconds), sent);
});

test('SIGTERM stops every worker and deregisters their endpoints', async () => {
  const pids = [...workerPids()].filter(alive);
  assert.equal(pids.length, 2);
  assert.equal(await sidecar.stop('SIGTERM'), 0);
  assert.deepEqual(pids.filter(alive), [], 'no worker outlives the primary');
  await waitFor(async () => (await store.getPrefix('endpoints/echo/')).size === 0, 'no endpoint left');
});

test('--workers takes a positive integer or auto; anything else exits 2 naming the flag', async () => {
  for (const value of ['0', 'two', '-1', '1.5']) {
    const r = await runMeshgate(['sidecar', '--service', 'echo', '--etcd', etcd.endpoint, '--workers', value]);
    assert.equal(r.code, 2, `--workers ${value}`);
    assert.match(r.stderr, /--workers/);
  }
  const env = await runMeshgate(['edge', '--etcd', etcd.endpoint], { MESHGATE_WORKERS: 'many' });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /--workers/);
});

test('a usage error every worker hits (a port taken) is said once, and the node exits 2', async () => {
  // Each worker used to write it, racing the primary's stop: with 8 workers two or three lines in half the runs.
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const port = (busy.address() as AddressInfo).port;
  try {
    for (let run = 1; run <= 3; run++) {
      const r = await runMeshgate(['edge', '--workers', '8', '--no-https', '--http-port', String(port), '--admin-port', '0', '--etcd', etcd.endpoint],
        { MESHGATE_STATE_DIR: join(dir, 'state-busy'), MESHGATE_HOST: '127.0.0.1' }, 60_000);
      assert.equal(r.code, 2, r.stderr);
      assert.deepEqual(r.stderr.split('\n').filter((l) => l.startsWith('meshgate:')), [`meshgate: --http-port ${port}: address in use`], `run ${run}`);
    }
  } finally {
    await new Promise((resolve) => busy.close(resolve));
  }
});
