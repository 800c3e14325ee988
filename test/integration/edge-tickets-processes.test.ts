// Session resumption across edge processes: two `meshgate edge` processes on one real etcd share the session-ticket
// key from the store, so a TLS session made on one resumes on the other (no full handshake), both ways.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { startEtcd, type EtcdProcess } from '../support/start-etcd.js';
import { runMeshgate, spawnMeshgate, type MeshProcess } from '../support/spawn-mesh.js';
import { makeCertificate } from '../support/test-certificates.js';

let etcd: EtcdProcess;
let dir: string;
const edges: MeshProcess[] = [];
const ports: number[] = [];

before(async () => {
  etcd = await startEtcd();
  dir = mkdtempSync(join(tmpdir(), 'meshgate-tickets-'));
  const cert = await makeCertificate(dir, 'edge', 'edge', 'DNS:localhost,IP:127.0.0.1');
  // An edge serves once it has a config: one route is enough.
  writeFileSync(join(dir, 'routes.yaml'), 'apiVersion: meshgate/v1\nservices:\n  - name: pub\n    endpoints: ["127.0.0.1:9"]\nroutes:\n  - name: pub\n    matches: [{ path: { type: PathPrefix, value: /pub } }]\n    backendRefs: [{ name: pub }]\n');
  const applied = await runMeshgate(['apply', join(dir, 'routes.yaml'), '--etcd', etcd.endpoint, '--message', 'test']);
  assert.equal(applied.code, 0, applied.stderr);
  for (const name of ['a', 'b']) {
    const edge = spawnMeshgate(
      ['edge', '--http-port', '0', '--https-port', '0', '--admin-port', '0', '--cert', cert.certFile, '--key', cert.keyFile, '--node-id', `edge-${name}`],
      { MESHGATE_ETCD: etcd.endpoint, MESHGATE_STATE_DIR: join(dir, name), MESHGATE_HOST: '127.0.0.1' },
    );
    edges.push(edge);
    const line = await edge.waitForLine((l) => l.msg === 'edge https listening (h2, http/1.1)');
    ports.push(Number(line.port));
  }
});

after(async () => {
  for (const e of edges) await e.stop();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A full handshake on `port`, then the session (ticket) the server issued. */
function sessionFrom(port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    socket.once('session', (session) => {
      resolve(session);
      socket.destroy();
    });
    socket.once('secureConnect', () => socket.write('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'));
    socket.once('error', reject);
  });
}

function resumes(port: number, session: Buffer): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, session, ALPNProtocols: ['http/1.1'] }, () => {
      resolve(socket.isSessionReused());
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

test('a TLS session from one edge process resumes on another process sharing the ticket key in etcd', async () => {
  const [a, b] = ports;
  const fromA = await sessionFrom(a);
  assert.equal(await resumes(b, fromA), true, 'a ticket issued by edge a resumes on edge b');
  const fromB = await sessionFrom(b);
  assert.equal(await resumes(a, fromB), true, 'and one issued by edge b on edge a');
  assert.equal(await resumes(a, Buffer.from(fromA.toString('hex').replace(/.{8}$/, '00000000'), 'hex')).catch(() => false), false, 'a damaged session does not resume');
});
