// Processes that cannot start (a port taken, a certificate file missing) as real `meshgate` commands against a real
// etcd: one line naming the flag, exit 2, the process gone and nothing of it left in etcd (no nodes/<id> record).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdStore } from '../../core/store/etcd-store.js';
import { startEtcd, type EtcdProcess } from '../support/start-etcd.js';
import { meshConfigYaml } from '../support/mesh-config.js';
import { runMeshgate } from '../support/spawn-mesh.js';

let etcd: EtcdProcess;
let store: EtcdStore;
let dir: string;
let busy: Server;
let busyPort: number;
let env: Record<string, string>;

before(async () => {
  etcd = await startEtcd();
  store = new EtcdStore({ endpoints: etcd.endpoint, prefix: '/meshgate/' });
  dir = mkdtempSync(join(tmpdir(), 'meshgate-start-failures-'));
  writeFileSync(join(dir, 'routes.yaml'), meshConfigYaml(['public'], ['echo']));
  env = { MESHGATE_ETCD: etcd.endpoint, MESHGATE_STATE_DIR: join(dir, 'state'), MESHGATE_HOST: '127.0.0.1', MESHGATE_LOG_LEVEL: 'info' };
  // A snapshot is live, so a node gets as far as binding its listeners (it waits for config before that).
  const applied = await runMeshgate(['apply', join(dir, 'routes.yaml'), '--message', 'test'], env);
  assert.equal(applied.code, 0, applied.stderr);
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  busyPort = (busy.address() as { port: number }).port;
});

after(async () => {
  await new Promise((resolve) => busy?.close(resolve));
  await store?.close();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a command that must refuse to start; its whole stderr is the one line, and it exits on its own. */
async function refused(args: string[]): Promise<string> {
  const r = await runMeshgate(args, env, 30_000);
  assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  const lines = r.stderr.trim().split('\n');
  return lines[lines.length - 1];
}

async function nodeRecords(): Promise<string[]> {
  return [...(await store.getPrefix('nodes/')).keys()];
}

test('an edge whose HTTP port is taken says so naming --http-port, exits 2 and leaves no node record', async () => {
  const line = await refused(['edge', '--no-https', '--http-port', String(busyPort), '--admin-port', '0', '--node-id', 'busy-http']);
  assert.equal(line, `meshgate: --http-port ${busyPort}: address in use`);
  assert.deepEqual(await nodeRecords(), [], 'the node record was revoked, not left to expire');
});

test('with --workers, a port taken is the same one line and exit 2, with no worker restarted', async () => {
  // Before: each worker exited 1 and the primary restarted it until its crash-loop limit, then exited 1.
  const line = await refused(['edge', '--workers', '2', '--no-https', '--http-port', String(busyPort), '--admin-port', '0', '--node-id', 'busy-workers']);
  assert.equal(line, `meshgate: --http-port ${busyPort}: address in use`);
  assert.deepEqual(await nodeRecords(), []);
});

test('an edge whose admin port is taken names --admin-port', async () => {
  const line = await refused(['edge', '--no-https', '--http-port', '0', '--admin-port', String(busyPort), '--node-id', 'busy-admin']);
  assert.equal(line, `meshgate: --admin-port ${busyPort}: address in use`);
  assert.deepEqual(await nodeRecords(), []);
});

test('an edge whose HTTPS port is taken names --https-port, after its HTTP listener was up', async () => {
  const line = await refused(['edge', '--http-port', '0', '--https-port', String(busyPort), '--admin-port', '0', '--node-id', 'busy-https']);
  assert.equal(line, `meshgate: --https-port ${busyPort}: address in use`);
  assert.deepEqual(await nodeRecords(), []);
});

test('an edge with a missing --key file names it, before anything starts', async () => {
  const cert = join(dir, 'x.pem');
  writeFileSync(cert, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
  const missing = join(dir, 'missing.key');
  const line = await refused(['edge', '--http-port', '0', '--https-port', '0', '--admin-port', '0', '--cert', cert, '--key', missing, '--node-id', 'no-key']);
  assert.equal(line, `meshgate: --key ${missing}: no such file`);
  assert.deepEqual(await nodeRecords(), []);
});

test('a sidecar whose inbound port is taken names --inbound-port, registers no endpoint and leaves no node record', async () => {
  const line = await refused(['sidecar', '--service', 'echo', '--inbound-port', String(busyPort), '--outbound-port', '0', '--admin-port', '0', '--node-id', 'busy-sc']);
  assert.equal(line, `meshgate: --inbound-port ${busyPort}: address in use`);
  assert.deepEqual(await nodeRecords(), []);
  assert.deepEqual([...(await store.getPrefix('endpoints/')).keys()], []);
});

test('two listeners given the same port are refused before anything starts', async () => {
  const line = await refused(['sidecar', '--service', 'echo', '--inbound-port', '15999', '--outbound-port', '15999', '--admin-port', '0']);
  assert.equal(line, 'meshgate: --inbound-port and --outbound-port are both 15999: each listener needs a port of its own');
});

test('registry and quota-svc with a taken port name the flag and exit 2', async () => {
  assert.equal(await refused(['registry', '--port', String(busyPort)]), `meshgate: --port ${busyPort}: address in use`);
  assert.equal(await refused(['quota', '--grpc-port', String(busyPort), '--http-port', '0']), `meshgate: --grpc-port ${busyPort}: address in use`);
  assert.equal(await refused(['quota', '--grpc-port', '0', '--http-port', String(busyPort)]), `meshgate: --http-port ${busyPort}: address in use`);
});
