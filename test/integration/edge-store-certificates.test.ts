// Certificates kept in etcd: `meshgate certs put` (a real CLI process) stores a checked pair, every edge serves it
// by SNI without a restart, a replacement is picked up while an open connection keeps its session, a bad pair is
// refused by the CLI and, written behind its back, by the edge (the old pair keeps serving), delete falls back to
// the default certificate.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { EtcdStore } from '../../core/store/etcd-store.js';
import { NO_ENDPOINTS } from '../../core/upstream/endpoints.js';
import { CERTIFICATES_PREFIX, certificateRecord } from '../../core/tls/certificate-record.js';
import { publishSnapshot } from '../../registry/publish.js';
import { startEdge, type EdgeNode } from '../../edge/main.js';
import type { MeshConfig } from '../../core/config/schema.js';
import { startEtcd, type EtcdProcess } from '../support/start-etcd.js';
import { makeCertificate, type TestCertificate } from '../support/test-certificates.js';
import { waitFor } from '../support/wait-for.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PREFIX = '/certs-test/';
let etcd: EtcdProcess;
let store: EtcdStore;
let dir: string;
let fallback: TestCertificate;
let first: TestCertificate;
let second: TestCertificate;
let other: TestCertificate;
const edges: EdgeNode[] = [];

function meshgate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'compose/cli.ts'), ...args],
      { cwd: ROOT, env: { ...process.env, MESHGATE_ETCD: etcd.endpoint, MESHGATE_PREFIX: PREFIX, MESHGATE_LOG_LEVEL: 'error' }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

async function edge(): Promise<EdgeNode> {
  const node = await startEdge({
    store,
    endpoints: NO_ENDPOINTS,
    httpPort: 0,
    httpsPort: 0,
    adminPort: 0,
    certFile: fallback.certFile,
    keyFile: fallback.keyFile,
    stateDir: dir,
    graceMs: 100,
  });
  edges.push(node);
  return node;
}

function handshake(port: number, servername: string): Promise<{ socket: tls.TLSSocket; cn: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () =>
      resolve({ socket, cn: String(socket.getPeerCertificate().subject?.CN ?? '') }),
    );
    socket.once('error', reject);
  });
}

async function served(port: number, servername: string): Promise<string> {
  const h = await handshake(port, servername);
  h.socket.destroy();
  return h.cn;
}

before(async () => {
  etcd = await startEtcd();
  store = new EtcdStore({ endpoints: etcd.endpoint, prefix: PREFIX });
  dir = await mkdtemp(join(tmpdir(), 'meshgate-store-certs-'));
  fallback = await makeCertificate(dir, 'default', 'default', 'DNS:localhost');
  first = await makeCertificate(dir, 'first', 'api-first', 'DNS:api.example.test');
  second = await makeCertificate(dir, 'second', 'api-second', 'DNS:api.example.test');
  other = await makeCertificate(dir, 'other', 'other', 'DNS:other.example.test');
  const config = { apiVersion: 'meshgate/v1', services: [{ name: 'pub', endpoints: ['127.0.0.1:9'] }], routes: [] } as unknown as MeshConfig;
  await publishSnapshot(store, config, { author: 'test', allowRemovals: true });
});

after(async () => {
  for (const e of edges) await e.close();
  await store?.close();
  await etcd?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('certs put reaches every edge; a replacement is served to new handshakes while an open one stays up; delete falls back', async () => {
  const [a, b] = [await edge(), await edge()];
  assert.equal(await served(a.httpsPort!, 'api.example.test'), 'default');

  const put = await meshgate(['certs', 'put', 'api.example.test', '--cert', first.certFile, '--key', first.keyFile]);
  assert.equal(put.code, 0, put.stderr);
  assert.match(put.stdout, /serves api\.example\.test/);
  for (const node of [a, b]) await waitFor(async () => (await served(node.httpsPort!, 'api.example.test')) === 'api-first', 'served api-first', 10_000);

  const open = await handshake(a.httpsPort!, 'api.example.test');
  assert.equal(open.cn, 'api-first');
  assert.equal((await meshgate(['certs', 'put', 'api.example.test', '--cert', second.certFile, '--key', second.keyFile])).code, 0);
  await waitFor(async () => (await served(a.httpsPort!, 'api.example.test')) === 'api-second', 'served api-second', 10_000);
  assert.ok(!open.socket.destroyed, 'the connection opened before the replacement is still up');
  open.socket.write('GET /x HTTP/1.1\r\nhost: api.example.test\r\nconnection: close\r\n\r\n');
  const answer = await new Promise<string>((resolve) => {
    let text = '';
    open.socket.on('data', (d) => (text += d)).on('close', () => resolve(text));
  });
  assert.match(answer, /^HTTP\/1\.1 404/, 'the old connection is still served');

  const list = await meshgate(['certs', 'list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  const listing = JSON.parse(list.stdout) as { name: string; names: string[] }[];
  assert.deepEqual(listing.map((c) => [c.name, c.names]), [['api.example.test', ['api.example.test']]]);

  const del = await meshgate(['certs', 'delete', 'api.example.test']);
  assert.equal(del.code, 0, del.stderr);
  for (const node of [a, b]) await waitFor(async () => (await served(node.httpsPort!, 'api.example.test')) === 'default', 'served default', 10_000);
  assert.equal((await meshgate(['certs', 'delete', 'api.example.test'])).code, 1, 'deleting what is not there fails');
});

test('a mismatched pair is refused by the CLI (field named) and, written directly, by the edge: the old pair keeps serving', async () => {
  const node = await edge();
  const refused = await meshgate(['certs', 'put', 'other.example.test', '--cert', other.certFile, '--key', first.keyFile]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /key: does not load with the certificate/);
  assert.equal(await store.get(`${CERTIFICATES_PREFIX}other.example.test`), undefined, 'nothing stored');

  assert.equal((await meshgate(['certs', 'put', 'other.example.test', '--cert', other.certFile, '--key', other.keyFile])).code, 0);
  await waitFor(async () => (await served(node.httpsPort!, 'other.example.test')) === 'other', 'served other', 10_000);
  const [cert, wrongKey] = await Promise.all([readFile(other.certFile, 'utf8'), readFile(first.keyFile, 'utf8')]);
  await store.put(`${CERTIFICATES_PREFIX}other.example.test`, certificateRecord(cert, wrongKey));
  await store.put(`${CERTIFICATES_PREFIX}broken`, '{"cert": 1}');
  // A later valid change proves the watch went past the bad records.
  assert.equal((await meshgate(['certs', 'put', 'api.example.test', '--cert', first.certFile, '--key', first.keyFile])).code, 0);
  await waitFor(async () => (await served(node.httpsPort!, 'api.example.test')) === 'api-first', 'served api-first', 10_000);
  assert.equal(await served(node.httpsPort!, 'other.example.test'), 'other', 'the refused record left the old pair serving');
  const list = JSON.parse((await meshgate(['certs', 'list', '--json'])).stdout) as { name: string; error?: string }[];
  assert.match(list.find((c) => c.name === 'broken')?.error ?? '', /^cert: missing/);
});
