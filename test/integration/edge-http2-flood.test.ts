// HTTP/2 abuse against the edge's TLS listener, written as raw frames on a TLS socket with ALPN h2 (a node:http2
// client cannot be the attacker: it queues the cancelled streams and, once its outbound queue is full, never
// notices the server closing the connection): rapid reset (HEADERS + RST_STREAM, CVE-2023-44487) and CONTINUATION
// floods (CVE-2024-27983 class). Each must end the abusive connection, count it in
// meshgate_http2_sessions_closed_total, forward nothing it reset or left unfinished, and leave a
// well-behaved client served during and after the attack.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import http2 from 'node:http2';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startEdgeMesh, type EdgeMesh } from '../support/edge-mesh.js';
import { makeCertificate, type TestCertificate } from '../support/test-certificates.js';
import { h2Get } from '../support/h2-get.js';
import type { RouteConfig } from '../../core/config/schema.js';

const ROUTES = [{ name: 'public', matches: [{ path: { type: 'PathPrefix', value: '/public' } }], backendRefs: [{ name: 'pub' }] }] as RouteConfig[];
const MAX_RESETS = 50;
const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_CANCEL } = http2.constants;

let mesh: EdgeMesh;
let dir: string;
let cert: TestCertificate;
let port: number;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshgate-h2-'));
  cert = await makeCertificate(dir, 'default', 'default', 'DNS:localhost,IP:127.0.0.1');
  mesh = await startEdgeMesh({
    services: ['pub'],
    routes: ROUTES,
    edge: { httpsPort: 0, certFile: cert.certFile, keyFile: cert.keyFile, http2: { maxResetsPerWindow: MAX_RESETS, windowMs: 10_000 } },
  });
  port = mesh.edge.httpsPort!;
});
after(async () => {
  await mesh?.close();
  await rm(dir, { recursive: true, force: true });
});

const FRAME = { HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, GOAWAY: 0x7, CONTINUATION: 0x9 } as const;
const FLAG = { END_STREAM: 0x1, END_HEADERS: 0x4 } as const;

/** One HTTP/2 frame (RFC 9113 §4.1). */
function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK literal without indexing, indexed name (`index` from the static table) or new name (RFC 7541 §6.2.2). */
function literal(name: string | number, value: string): Buffer {
  const head = typeof name === 'number' ? Buffer.from([name]) : Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name)]);
  return Buffer.concat([head, Buffer.from([value.length]), Buffer.from(value)]);
}

/** GET https <path> with :authority a: static entries 2 (:method GET) and 7 (:scheme https), then :path (4), :authority (1). */
function requestBlock(path: string): Buffer {
  return Buffer.concat([Buffer.from([0x82, 0x87]), literal(4, path), literal(1, 'a')]);
}

interface Frame {
  type: number;
  stream: number;
  payload: Buffer;
}

/** An attacker's connection: TLS with ALPN h2, the client preface and an empty SETTINGS already written. */
class RawH2 {
  private received = Buffer.alloc(0);
  /** Set when the edge closed the connection (we never close it before the checks). */
  closedByServer = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => (this.received = Buffer.concat([this.received, d])));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => ((this.closedByServer = true), resolve())));
  }

  static async open(toPort = port): Promise<RawH2> {
    const socket = tls.connect({ host: '127.0.0.1', port: toPort, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    });
    assert.equal(socket.alpnProtocol, 'h2');
    return RawH2.preface(socket);
  }

  /** Cleartext HTTP/2 with prior knowledge (RFC 9113 §3.3), as the sidecars' ports take it. */
  static async openCleartext(toPort: number): Promise<RawH2> {
    const socket = net.connect(toPort, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    return RawH2.preface(socket);
  }

  private static preface(socket: net.Socket): RawH2 {
    socket.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
    socket.write(frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(0)));
    return new RawH2(socket);
  }

  /** Writes; on backpressure waits a moment so the edge gets to read. False once the connection is gone. */
  async write(bytes: Buffer): Promise<boolean> {
    if (this.socket.destroyed || this.closedByServer) return false;
    if (!this.socket.write(bytes)) await delay(1);
    return !this.socket.destroyed;
  }

  /** Waits (bounded) for the edge to close the connection; true if it did. */
  async waitClosed(boundMs = 5_000): Promise<boolean> {
    await Promise.race([this.closed, delay(boundMs)]);
    return this.closedByServer;
  }

  frames(): Frame[] {
    const out: Frame[] = [];
    for (let at = 0; at + 9 <= this.received.length; ) {
      const length = this.received.readUIntBE(at, 3);
      out.push({ type: this.received[at + 3], stream: this.received.readUInt32BE(at + 5) & 0x7fffffff, payload: this.received.subarray(at + 9, at + 9 + length) });
      at += 9 + length;
    }
    return out;
  }

  /** The error code of the edge's GOAWAY (RFC 9113 §6.8), if one arrived. */
  goawayCode(): number | undefined {
    const goaway = this.frames().find((f) => f.type === FRAME.GOAWAY);
    return goaway && goaway.payload.length >= 8 ? goaway.payload.readUInt32BE(4) : undefined;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A well-behaved client on its own session: one GET after another until `attack` settles, then one more. */
async function servedMeanwhile(attack: Promise<unknown>, tag: string): Promise<number[]> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  try {
    let over = false;
    const done = () => (over = true);
    attack.then(done, done);
    const statuses: number[] = [];
    // Bounded: at most 200 requests while the attack runs.
    while (!over && statuses.length < 200) statuses.push(await h2Get(session, `/public/${tag}-${statuses.length}`));
    await attack;
    statuses.push(await h2Get(session, `/public/${tag}-after`));
    assert.equal(session.destroyed, false, 'the well-behaved session was left open');
    return statuses;
  } finally {
    session.close();
  }
}

async function closedSessions(reason: string, tier = 'edge', adminPort = mesh.edge.adminPort): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`meshgate_http2_sessions_closed_total{tier="${tier}",reason="${reason}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

function cancel(): Buffer {
  const code = Buffer.alloc(4);
  code.writeUInt32BE(NGHTTP2_CANCEL);
  return code;
}

/** Opens and at once resets `perWrite` streams (/public/<tag>-<id>) per write, `pauseMs` apart, up to `total` or until the edge closes us. */
async function rapidReset(raw: RawH2, tag: string, total: number, perWrite: number, pauseMs = 1): Promise<number> {
  let sent = 0;
  for (let id = 1; sent < total; ) {
    const pairs: Buffer[] = [];
    for (let i = 0; i < perWrite && sent < total; i++, sent++, id += 2) {
      pairs.push(frame(FRAME.HEADERS, FLAG.END_STREAM | FLAG.END_HEADERS, id, requestBlock(`/public/${tag}-${id}`)), frame(FRAME.RST_STREAM, 0, id, cancel()));
    }
    if (!(await raw.write(Buffer.concat(pairs)))) break;
    await delay(pauseMs); // the edge reads between writes, so the guard's own window count (not only nghttp2) decides
  }
  return sent;
}

test('rapid reset: the guard sends GOAWAY ENHANCE_YOUR_CALM and closes the connection; another client is served during and after', async () => {
  const before = await closedSessions('rapid_reset');
  const raw = await RawH2.open();
  const total = 5_000;
  const attack = (async () => {
    const sent = await rapidReset(raw, 'paced', total, 20);
    return { sent, closed: await raw.waitClosed() };
  })();
  const statuses = await servedMeanwhile(attack, 'rr');
  const { sent, closed } = await attack;
  raw.destroy();
  assert.ok(closed, `the edge closed the connection (after ${sent} resets)`);
  assert.equal(raw.goawayCode(), NGHTTP2_ENHANCE_YOUR_CALM, 'GOAWAY ENHANCE_YOUR_CALM');
  assert.ok(sent < total, `the connection ended before the burst did (${sent} of ${total})`);
  assert.equal(await closedSessions('rapid_reset'), before + 1);
  // Each write carries whole HEADERS + RST_STREAM pairs, so the edge sees every reset before dispatching.
  assert.equal(mesh.apps.pub.received.filter((r) => r.url.startsWith('/public/paced-')).length, 0, 'no reset stream was forwarded');
  assert.ok(statuses.length >= 1 && statuses.every((s) => s === 200), `the other client got ${statuses.join(',')}`);
});

test('rapid reset in one burst of 5,000 streams: the connection is closed; another client is served', async () => {
  const raw = await RawH2.open();
  const attack = (async () => {
    const sent = await rapidReset(raw, 'burst', 5_000, 5_000);
    return { sent, closed: await raw.waitClosed() };
  })();
  const statuses = await servedMeanwhile(attack, 'burst');
  const { closed } = await attack;
  raw.destroy();
  assert.ok(closed, 'the edge closed the connection');
  const code = raw.goawayCode();
  // The guard (ENHANCE_YOUR_CALM) or nghttp2's own reset limit (INTERNAL_ERROR); a GOAWAY may be lost to the TCP reset.
  assert.ok(code === undefined || code === NGHTTP2_ENHANCE_YOUR_CALM || code === NGHTTP2_INTERNAL_ERROR, `GOAWAY code ${code}`);
  assert.ok(statuses.every((s) => s === 200), `the other client got ${statuses.join(',')}`);
});

test('a steady drip of resets (60/s, under 200 in any second) is ended by the guard with its default limits', async () => {
  // nghttp2's own limit (1000 burst, 33/s) would only send a graceful GOAWAY after ~37 s and keep the connection
  // open; the default window (200 per 10 s) ends it after ~3.4 s. Bounded: at most 8 s of drip.
  const defaults = await mesh.addEdge({ httpsPort: 0, certFile: cert.certFile, keyFile: cert.keyFile, http2: {} });
  const raw = await RawH2.open(defaults.httpsPort!);
  const sent = await rapidReset(raw, 'drip', 480, 6, 100);
  const closed = await raw.waitClosed();
  raw.destroy();
  assert.ok(closed, `the edge closed the connection (after ${sent} resets)`);
  assert.equal(raw.goawayCode(), NGHTTP2_ENHANCE_YOUR_CALM, 'GOAWAY ENHANCE_YOUR_CALM from the guard');
  assert.ok(sent > 200 && sent < 480, `ended past the default 200 and before the drip did (${sent})`);
});

/** HEADERS for stream 1 without END_HEADERS, then up to `limit` CONTINUATION frames also without it. */
async function continuationFlood(raw: RawH2, path: string, fragment: Buffer, limit: number): Promise<number> {
  await raw.write(frame(FRAME.HEADERS, FLAG.END_STREAM, 1, requestBlock(path)));
  let sent = 0;
  for (; sent < limit; sent++) if (!(await raw.write(frame(FRAME.CONTINUATION, 0, 1, fragment)))) break;
  return sent;
}

for (const [kind, fragment] of [
  ['empty CONTINUATION frames (no header growth)', Buffer.alloc(0)],
  ['CONTINUATION frames each carrying a 100-byte header', literal('x-flood', 'f'.repeat(100))],
] as const) {
  test(`CONTINUATION flood, ${kind}: the connection is closed, nothing is forwarded, another client is served`, async () => {
    const before = await closedSessions('protocol_error');
    const path = `/public/continuation-${fragment.length}`;
    const raw = await RawH2.open();
    const limit = 20_000;
    const attack = (async () => {
      const sent = await continuationFlood(raw, path, fragment, limit);
      return { sent, closed: await raw.waitClosed() };
    })();
    const statuses = await servedMeanwhile(attack, `cont-${fragment.length}`);
    const { sent, closed } = await attack;
    raw.destroy();
    assert.ok(closed, `the edge closed the connection (after ${sent} CONTINUATION frames)`);
    assert.ok(sent < limit, `the connection ended before the flood did (${sent} of ${limit})`);
    const code = raw.goawayCode();
    assert.ok(code === undefined || code !== 0, `a GOAWAY, if any, carries an error code (${code})`);
    assert.equal(mesh.apps.pub.received.filter((r) => r.url === path).length, 0, 'the unfinished request never reached the app');
    assert.equal(await closedSessions('protocol_error'), before + 1);
    assert.ok(statuses.length >= 1 && statuses.every((s) => s === 200), `the other client got ${statuses.join(',')}`);
  });
}

test('the sidecar\'s h2c port has the same guard: a rapid reset there is ended with ENHANCE_YOUR_CALM', async () => {
  const sidecar = mesh.sidecars.pub;
  const before = await closedSessions('rapid_reset', 'sidecar', sidecar.adminPort);
  const raw = await RawH2.openCleartext(sidecar.inboundPort);
  // The sidecar runs the default limit (200 per 10 s): a burst well past it, paced so the guard counts it.
  const total = 2_000;
  const sent = await rapidReset(raw, 'sidecar', total, 20);
  const closed = await raw.waitClosed();
  raw.destroy();
  assert.ok(closed, `the sidecar closed the connection (after ${sent} resets)`);
  assert.equal(raw.goawayCode(), NGHTTP2_ENHANCE_YOUR_CALM, 'GOAWAY ENHANCE_YOUR_CALM');
  assert.ok(sent < total, `the connection ended before the burst did (${sent} of ${total})`);
  assert.equal(await closedSessions('rapid_reset', 'sidecar', sidecar.adminPort), before + 1);
});
