// Edge TLS on real sockets: TLS 1.1 refused, SNI picks the certificate (exact and wildcard), ALPN, certificates
// reloaded from their files while an open h2 connection keeps working, session resumption across two edge nodes
// sharing ticket keys through the store. HTTP/2 abuse is in edge-http2-flood.test.ts.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import net from 'node:net';
import http2 from 'node:http2';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEdgeMesh, type EdgeMesh } from '../support/edge-mesh.js';
import { makeCertificate, type TestCertificate } from '../support/test-certificates.js';
import type { RouteConfig } from '../../core/config/schema.js';
import type { EdgeNode } from '../../edge/main.js';
import { TICKET_KEYS_KEY } from '../../edge/session-tickets.js';
import { waitFor } from '../support/wait-for.js';
import { h2Get } from '../support/h2-get.js';

const ROUTES = [{ name: 'public', matches: [{ path: { type: 'PathPrefix', value: '/public' } }], backendRefs: [{ name: 'pub' }] }] as RouteConfig[];

let mesh: EdgeMesh;
let dir: string;
let main: TestCertificate;
let a: TestCertificate;
let wild: TestCertificate;
let port: number;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshgate-certs-'));
  main = await makeCertificate(dir, 'default', 'default', 'DNS:localhost,IP:127.0.0.1');
  a = await makeCertificate(dir, 'a', 'a.test', 'DNS:a.test');
  wild = await makeCertificate(dir, 'wild', 'wild.b.test', 'DNS:*.b.test');
  mesh = await startEdgeMesh({
    services: ['pub'],
    routes: ROUTES,
    edge: {
      httpsPort: 0,
      certFile: main.certFile,
      keyFile: main.keyFile,
      sniCertificates: [a, wild],
      certificatePollMs: 50,
    },
  });
  port = mesh.edge.httpsPort!;
});
after(async () => {
  await mesh?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Handshake {
  socket: tls.TLSSocket;
  cn: string;
  fingerprint: string;
}

async function handshake(options: tls.ConnectionOptions, toPort = port): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: toPort, rejectUnauthorized: false, ...options }, () => {
      const cert = socket.getPeerCertificate();
      resolve({ socket, cn: String(cert.subject?.CN ?? ''), fingerprint: cert.fingerprint256 });
    });
    socket.once('error', reject);
  });
}

test('TLS 1.1 is refused; TLS 1.2 and 1.3 are accepted', async () => {
  const weak = { ciphers: 'DEFAULT@SECLEVEL=0' };
  await assert.rejects(handshake({ ...weak, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1' }), (err: NodeJS.ErrnoException) => /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|no protocols available/i.test(`${err.code} ${err.message}`));
  const v12 = await handshake({ ...weak, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.2' });
  assert.equal(v12.socket.getProtocol(), 'TLSv1.2');
  v12.socket.destroy();
  const v13 = await handshake({});
  assert.equal(v13.socket.getProtocol(), 'TLSv1.3');
  v13.socket.destroy();
});

test('SNI picks the certificate: exact name, wildcard, default for unknown names; ALPN h2 and http/1.1', async () => {
  const cases: [string | undefined, string][] = [['a.test', 'a.test'], ['x.b.test', 'wild.b.test'], ['other.test', 'default'], [undefined, 'default']];
  for (const [servername, cn] of cases) {
    const h = await handshake(servername ? { servername } : {});
    assert.equal(h.cn, cn, `servername ${servername}`);
    h.socket.destroy();
  }
  const h2 = await handshake({ servername: 'a.test', ALPNProtocols: ['h2', 'http/1.1'] });
  assert.equal(h2.socket.alpnProtocol, 'h2');
  h2.socket.destroy();
  const h1 = await handshake({ ALPNProtocols: ['http/1.1'] });
  assert.equal(h1.socket.alpnProtocol, 'http/1.1');
  h1.socket.destroy();
});

test('certificates reload from their files without a restart, and open connections keep working', async () => {
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, servername: 'a.test' });
  assert.equal(await h2Get(session, '/public/before'), 200);
  const before = await handshake({ servername: 'a.test' });
  before.socket.destroy();
  const defaultBefore = await handshake({});
  defaultBefore.socket.destroy();
  // New pairs written aside and renamed into place (how cert-manager and certbot deploy).
  const next = await makeCertificate(dir, 'a-next', 'a.test v2', 'DNS:a.test');
  const nextDefault = await makeCertificate(dir, 'default-next', 'default v2', 'DNS:localhost');
  await rename(next.keyFile, a.keyFile);
  await rename(next.certFile, a.certFile);
  await rename(nextDefault.keyFile, main.keyFile);
  await rename(nextDefault.certFile, main.certFile);
  await waitFor(async () => {
    const h = await handshake({ servername: 'a.test' });
    h.socket.destroy();
    return h.cn === 'a.test v2';
  }, 'the SNI certificate to be reloaded', 10_000, 50);
  await waitFor(async () => {
    const h = await handshake({});
    h.socket.destroy();
    return h.cn === 'default v2';
  }, 'the default certificate to be reloaded', 10_000, 50);
  // The session opened before the reload still serves requests.
  assert.equal(session.destroyed, false);
  assert.equal(await h2Get(session, '/public/after'), 200);
  session.close();
});

async function sessionFrom(toPort: number): Promise<{ session: Buffer; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: toPort, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    socket.once('session', (session: Buffer) => {
      resolve({ session, reused: socket.isSessionReused() });
      socket.destroy();
    });
    socket.once('secureConnect', () => socket.write('GET /public/s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'));
    socket.once('error', reject);
  });
}

async function resumes(toPort: number, session: Buffer): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: toPort, rejectUnauthorized: false, session, ALPNProtocols: ['http/1.1'] }, () => {
      resolve(socket.isSessionReused());
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

test('a session ticket from one edge resumes on another edge sharing the store; a rotated key ends that', async () => {
  const other: EdgeNode = await mesh.addEdge({ httpsPort: 0, certFile: main.certFile, keyFile: main.keyFile, sniCertificates: [a, wild] });
  const { session } = await sessionFrom(port);
  assert.equal(await resumes(other.httpsPort!, session), true, 'resumed on the other edge');
  assert.equal(await resumes(port, session), true, 'and on the first');
  // Rotation (normally the CAS-elected writer on schedule): every edge installs the new key from the store.
  const record = JSON.parse((await mesh.store.get(TICKET_KEYS_KEY))!);
  const rotated = { current: Buffer.alloc(48, 7).toString('base64'), previous: record.current, rotatedAt: Date.now() };
  await mesh.store.put(TICKET_KEYS_KEY, JSON.stringify(rotated));
  // Node takes one ticket key: a ticket sealed under the previous key is not resumed (full handshake instead).
  await waitFor(async () => !(await resumes(other.httpsPort!, session)), 'the rotated key on the other edge', 5_000, 25);
  const fresh = (await sessionFrom(other.httpsPort!)).session;
  assert.equal(await resumes(port, fresh), true, 'a ticket under the new key resumes on the first edge');
});

/** Resolves with how long the server took to close a connection that is sent `bytes` (or nothing), or undefined at `boundMs`. */
function closedAfter(connect: () => net.Socket | tls.TLSSocket, boundMs: number, onOpen?: (s: net.Socket) => void): Promise<{ ms: number; text: string } | undefined> {
  return new Promise((resolve) => {
    const started = Date.now();
    let text = '';
    const socket = connect();
    socket.on('data', (d) => (text += d.toString()));
    socket.on('error', () => {});
    socket.once('connect', () => onOpen?.(socket));
    socket.once('secureConnect', () => onOpen?.(socket));
    const bound = setTimeout(() => (socket.destroy(), resolve(undefined)), boundMs);
    socket.once('close', () => (clearTimeout(bound), resolve({ ms: Date.now() - started, text })));
  });
}

test('the TLS port bounds silent clients as the plain one does: no handshake, and a head that never ends (408)', async () => {
  // Before: a connection that never sent a ClientHello stayed open (node's handshake timeout is 120 s), and a slow
  // head on the TLS port got its 408 after 22-28 s: node checked every 30 s instead of every second.
  const edge = await mesh.addEdge({ httpsPort: 0, certFile: main.certFile, keyFile: main.keyFile, limits: { headersTimeoutMs: 300, requestTimeoutMs: 600 } });
  const tlsPort = edge.httpsPort!;
  const silent = await closedAfter(() => net.connect(tlsPort, '127.0.0.1'), 5_000);
  assert.ok(silent, 'a connection that sends nothing is closed');
  const partialHello = await closedAfter(() => net.connect(tlsPort, '127.0.0.1'), 5_000, (s) => s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])));
  assert.ok(partialHello, 'a connection that stops inside its ClientHello is closed');
  const slowHead = await closedAfter(
    () => tls.connect({ host: '127.0.0.1', port: tlsPort, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }),
    5_000,
    (s) => s.write('GET /public HTTP/1.1\r\nHost: a\r\nX-Slow: '),
  );
  assert.ok(slowHead, 'a head that never ends is answered and closed within the bound');
  assert.match(slowHead.text, /^HTTP\/1\.1 408 /);
  assert.match(slowHead.text, /"code":"request_timeout"/);
});
