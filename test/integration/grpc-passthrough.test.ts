// gRPC through the mesh with @grpc/grpc-js at both ends: client ─TLS, ALPN h2─▶ edge ─h2c─▶ sidecar ─h2c─▶ app.
// Unary and every streaming shape keep their messages, status, initial and trailing metadata; a non-OK status
// with its message and trailing metadata (text and binary) arrives intact, trailers-only or after messages; the
// mesh's own refusals are gRPC statuses (UNAUTHENTICATED, UNIMPLEMENTED, RESOURCE_EXHAUSTED); grpc-timeout is the
// deadline (DEADLINE_EXCEEDED, the app sees the reduced budget); east-west through the sidecar's outbound; and a
// draining sidecar lets an open call finish (GOAWAY) while new calls are UNAVAILABLE.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MemoryStore } from '../../core/store/memory-store.js';
import { NO_ENDPOINTS } from '../../core/upstream/endpoints.js';
import type { MeshConfig } from '../../core/config/schema.js';
import { publishSnapshot } from '../../registry/publish.js';
import { startSidecar, type SidecarNode } from '../../sidecar/main.js';
import { startEdge, type EdgeNode } from '../../edge/main.js';
import { SigningKeys } from '../../authz-svc/signing-keys.js';
import { freePort } from '../support/free-port.js';
import { waitFor } from '../support/wait-for.js';
import { makeCertificate } from '../support/test-certificates.js';
import { loadEcho, startGrpcEchoApp, type EchoReply, type EchoRequest, type GrpcEchoApp } from '../support/grpc-echo-app.js';

const ISSUER = 'https://issuer.test';

let store: MemoryStore;
let stateDir: string;
let app: GrpcEchoApp;
let sidecar: SidecarNode | undefined;
let edge: EdgeNode;
let keys: SigningKeys;
let ca: Buffer;
let token: string;
const clients: grpc.Client[] = [];

before(async () => {
  store = new MemoryStore();
  stateDir = await mkdtemp(join(tmpdir(), 'meshgate-grpc-'));
  const cert = await makeCertificate(stateDir, 'edge', 'localhost', 'DNS:localhost,IP:127.0.0.1');
  ca = readFileSync(cert.certFile);
  app = await startGrpcEchoApp();
  const inboundPort = await freePort();
  const config = {
    apiVersion: 'meshgate/v1',
    issuers: [{ issuer: ISSUER }],
    services: [{ name: 'echo', endpoints: [`127.0.0.1:${inboundPort}`], protocol: 'grpc' }],
    routes: [
      {
        name: 'echo',
        matches: [{ path: { type: 'PathPrefix', value: '/meshtest.Echo/' } }],
        backendRefs: [{ name: 'echo' }],
        auth: { required: true },
        timeouts: { request: '20s' },
      },
      {
        name: 'limited',
        matches: [{ path: { type: 'PathPrefix', value: '/meshtest.Limited/' } }],
        backendRefs: [{ name: 'echo' }],
        quota: [{ limit: 1, window: 'hour', key: ['client-ip'] }],
      },
    ],
  } as MeshConfig;
  await publishSnapshot(store, config, { author: 'test', allowRemovals: true });
  keys = await SigningKeys.create(store, { issuer: ISSUER });
  token = await keys.issue({ sub: 'tester', ttlSeconds: 300 });
  sidecar = await startSidecar({
    store,
    endpoints: NO_ENDPOINTS,
    service: 'echo',
    app: `127.0.0.1:${app.port}`,
    inboundPort,
    outboundPort: 0,
    adminPort: 0,
    stateDir,
    graceMs: 5_000, // the drain test's open call has this long to finish
  });
  edge = await startEdge({
    store,
    endpoints: NO_ENDPOINTS,
    httpPort: 0,
    httpsPort: 0,
    adminPort: 0,
    stateDir,
    graceMs: 200,
    certFile: cert.certFile,
    keyFile: cert.keyFile,
  });
});

after(async () => {
  for (const c of clients) c.close();
  await edge?.close();
  await sidecar?.close();
  await app?.close();
  await keys?.close();
  await store?.close();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

type EchoClient = grpc.Client & Record<string, (...args: unknown[]) => grpc.ClientUnaryCall & grpc.ClientReadableStream<EchoReply>>;

/** An Echo client through the edge over TLS (ALPN h2), or through the sidecar's outbound (h2c) when `outbound`. */
function echoClient(outbound = false): EchoClient {
  const { Echo } = loadEcho();
  const client = outbound
    ? new Echo(`127.0.0.1:${sidecar!.outboundPort}`, grpc.credentials.createInsecure())
    : new Echo(`127.0.0.1:${edge.httpsPort}`, grpc.credentials.createSsl(ca), { 'grpc.ssl_target_name_override': 'localhost' });
  clients.push(client);
  return client as unknown as EchoClient;
}

function authed(): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
}

interface UnaryResult {
  err: grpc.ServiceError | null;
  reply: EchoReply | undefined;
  headers: grpc.Metadata | undefined;
  status: grpc.StatusObject | undefined;
}

function unary(client: EchoClient, req: EchoRequest, metadata = authed(), options: grpc.CallOptions = {}): Promise<UnaryResult> {
  return new Promise((resolve) => {
    const result: UnaryResult = { err: null, reply: undefined, headers: undefined, status: undefined };
    let pending = 2;
    const settle = () => --pending === 0 && resolve(result);
    const call = client.Unary(req, metadata, options, (err: grpc.ServiceError | null, reply: EchoReply) => {
      result.err = err;
      result.reply = reply;
      settle();
    });
    call.on('metadata', (m: grpc.Metadata) => (result.headers = m));
    call.on('status', (s: grpc.StatusObject) => {
      result.status = s;
      settle();
    });
  });
}

test('unary: reply, initial metadata and trailing metadata intact; the app sees identity and a bounded deadline', async () => {
  const r = await unary(echoClient(), { text: 'hi' });
  assert.equal(r.err, null);
  assert.equal(r.reply!.text, 'echo: hi');
  assert.equal(r.reply!.authSubject, 'tester');
  assert.equal(r.headers!.get('x-app')[0], 'echo');
  assert.equal(r.status!.code, grpc.status.OK);
  assert.equal(r.status!.metadata.get('x-trailer')[0], 'done');
  // The route's 20 s request timeout is the deadline the app is given (grpc-timeout), less what the hops took.
  assert.ok(r.reply!.deadlineLeftMs > 0 && r.reply!.deadlineLeftMs <= 20_000, `deadline left ${r.reply!.deadlineLeftMs}`);
});

test('the edge\'s plain port takes gRPC over cleartext HTTP/2 (prior knowledge) too', async () => {
  const { Echo } = loadEcho();
  const client = new Echo(`127.0.0.1:${edge.httpPort}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
  clients.push(client);
  const r = await unary(client, { text: 'plain' });
  assert.equal(r.err, null);
  assert.equal(r.reply!.text, 'echo: plain');
  assert.equal(r.status!.metadata.get('x-trailer')[0], 'done');
  const refused = await unary(client, { text: 'no token' }, new grpc.Metadata());
  assert.equal(refused.err?.code, grpc.status.UNAUTHENTICATED);
});

test('a non-OK status with a message and trailing metadata (text and binary) arrives intact (trailers-only)', async () => {
  const r = await unary(echoClient(), { text: 'no', failCode: grpc.status.FAILED_PRECONDITION });
  assert.equal(r.err?.code, grpc.status.FAILED_PRECONDITION);
  assert.equal(r.err?.details, 'refused: no');
  assert.equal(r.err?.metadata.get('x-why')[0], 'because no');
  assert.deepEqual(r.err?.metadata.get('x-detail-bin')[0], Buffer.from([0, 1, 2, 255]));
});

test('server streaming: every message in order, then the status and trailers; a failure after messages keeps both', async () => {
  const client = echoClient();
  const read = (req: EchoRequest) =>
    new Promise<{ replies: EchoReply[]; headers?: grpc.Metadata; status: grpc.StatusObject; err?: grpc.ServiceError }>((resolve) => {
      const replies: EchoReply[] = [];
      let headers: grpc.Metadata | undefined;
      let err: grpc.ServiceError | undefined;
      const call = client.ServerStream(req, authed());
      call.on('metadata', (m: grpc.Metadata) => (headers = m));
      call.on('data', (reply: EchoReply) => replies.push(reply));
      call.on('error', (e: grpc.ServiceError) => (err = e));
      call.on('status', (status: grpc.StatusObject) => setImmediate(() => resolve({ replies, headers, status, err })));
    });
  const ok = await read({ text: 'tick', count: 50 });
  assert.equal(ok.err, undefined);
  assert.deepEqual(ok.replies.map((r) => r.index), Array.from({ length: 50 }, (_, i) => i));
  assert.equal(ok.replies[49].text, 'tick #49');
  assert.equal(ok.headers!.get('x-app')[0], 'echo');
  assert.equal(ok.status.code, grpc.status.OK);
  assert.equal(ok.status.metadata.get('x-trailer')[0], 'done');

  const failed = await read({ text: 'half', count: 3, failCode: grpc.status.ABORTED });
  assert.equal(failed.replies.length, 3);
  assert.equal(failed.status.code, grpc.status.ABORTED);
  assert.equal(failed.status.details, 'refused: half');
  assert.equal(failed.status.metadata.get('x-why')[0], 'because half');
});

test('client streaming and bidi streaming: messages both ways, then status and trailers', async () => {
  const client = echoClient();
  const joined = await new Promise<{ err: grpc.ServiceError | null; reply: EchoReply }>((resolve) => {
    const call = (client.ClientStream as unknown as (m: grpc.Metadata, cb: (err: grpc.ServiceError | null, reply: EchoReply) => void) => grpc.ClientWritableStream<EchoRequest>)(
      authed(),
      (err, reply) => resolve({ err, reply }),
    );
    for (const text of ['a', 'b', 'c']) call.write({ text });
    call.end();
  });
  assert.equal(joined.err, null);
  assert.equal(joined.reply.text, 'a+b+c');
  assert.equal(joined.reply.index, 3);

  const bidi = (client.Bidi as unknown as (m: grpc.Metadata) => grpc.ClientDuplexStream<EchoRequest, EchoReply>)(authed());
  const replies: string[] = [];
  const status = new Promise<grpc.StatusObject>((resolve) => bidi.on('status', resolve));
  // One at a time: each reply comes back before the next message is sent, so the stream is truly full duplex.
  for (const text of ['one', 'two', 'three']) {
    const next = new Promise<void>((resolve) => bidi.once('data', (r: EchoReply) => resolve(void replies.push(r.text))));
    bidi.write({ text });
    await next;
  }
  bidi.end();
  const s = await status;
  assert.deepEqual(replies, ['echo: one', 'echo: two', 'echo: three']);
  assert.equal(s.code, grpc.status.OK);
  assert.equal(s.metadata.get('x-trailer')[0], 'done');
});

test('the mesh answers the gRPC way: no token is UNAUTHENTICATED, no route is UNIMPLEMENTED, quota is RESOURCE_EXHAUSTED', async () => {
  const client = echoClient();
  const before = app.cancelled;
  const anonymous = await unary(client, { text: 'x' }, new grpc.Metadata());
  assert.equal(anonymous.err?.code, grpc.status.UNAUTHENTICATED);
  assert.match(anonymous.err!.details, /token/);
  assert.match(String(anonymous.err!.metadata.get('www-authenticate')[0]), /^Bearer error="invalid_token"/);
  assert.ok(anonymous.err!.metadata.get('x-request-id')[0], 'the refusal carries the request id');

  const bad = new grpc.Metadata();
  bad.set('authorization', 'Bearer not-a-jwt');
  assert.equal((await unary(client, { text: 'x' }, bad)).err?.code, grpc.status.UNAUTHENTICATED);

  const call = (path: string) =>
    new Promise<grpc.ServiceError | null>((resolve) => client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (err) => resolve(err)));
  assert.equal((await call('/meshtest.Nowhere/Call'))?.code, grpc.status.UNIMPLEMENTED, 'no route');
  // The first call passes the quota and reaches the app, which has no such method (its own trailers-only answer).
  assert.equal((await call('/meshtest.Limited/Call'))?.code, grpc.status.UNIMPLEMENTED);
  const limited = await call('/meshtest.Limited/Call');
  assert.equal(limited?.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.ok(limited!.metadata.get('retry-after')[0], 'Retry-After rides along as metadata');
  assert.equal(app.cancelled, before);
});

test('grpc-timeout is the deadline: an app sleeping past it gives DEADLINE_EXCEEDED and sees the call cancelled', async () => {
  const client = echoClient();
  const before = app.cancelled;
  const r = await unary(client, { text: 'slow', sleepMs: 5_000 }, authed(), { deadline: Date.now() + 400 });
  assert.equal(r.err?.code, grpc.status.DEADLINE_EXCEEDED);
  await waitFor(() => app.cancelled > before, 'the app sees the call cancelled');

  // The app is told the budget left, smaller than the caller's: grpc-timeout (its deadline) and x-request-timeout-ms.
  const told = await unary(client, { text: 'fast' }, authed(), { deadline: Date.now() + 3_000 });
  assert.equal(told.err, null);
  assert.ok(told.reply!.deadlineLeftMs > 0 && told.reply!.deadlineLeftMs < 3_000, `deadline left ${told.reply!.deadlineLeftMs}`);
  const budget = Number(told.reply!.requestTimeoutMs);
  assert.ok(budget > 0 && budget < 3_000, `x-request-timeout-ms ${told.reply!.requestTimeoutMs}`);
});

test('the mesh itself enforces grpc-timeout: a caller that does not time out gets DEADLINE_EXCEEDED from the edge', async () => {
  const { Echo } = loadEcho();
  const request = (Echo.service.Unary.requestSerialize as (r: EchoRequest) => Buffer)({ text: 'slow', sleepMs: 5_000 });
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, request.length]), request]);
  const session = http2.connect(`https://127.0.0.1:${edge.httpsPort}`, { ca, servername: 'localhost' });
  try {
    const started = Date.now();
    const answer = await new Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders }>((resolve, reject) => {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/meshtest.Echo/Unary',
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': '300m',
        authorization: `Bearer ${token}`,
      });
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      stream.on('response', (h) => (headers = h));
      stream.on('trailers', (t) => (trailers = t));
      stream.on('data', () => undefined);
      stream.on('end', () => resolve({ headers, trailers }));
      stream.on('error', reject);
      stream.end(frame);
    });
    assert.equal(answer.headers[':status'], 200);
    const status = answer.headers['grpc-status'] ?? answer.trailers['grpc-status'];
    assert.equal(status, String(grpc.status.DEADLINE_EXCEEDED));
    // Well before the app's 5 s sleep and the route's 20 s timeout.
    assert.ok(Date.now() - started < 4_000, `answered after ${Date.now() - started} ms`);
  } finally {
    session.close();
  }
});

test('a caller that cancels its call cancels it in the app, through the edge and through the outbound listener', async () => {
  // Before, an HTTP/2 response whose stream the client reset read as finished (writableFinished) once its head was
  // out, so the upstream stream was never reset and the app ran the call to its end: a watch stream ran until the
  // route deadline. A unary call cancelled before its answer is cancelled too.
  for (const outbound of [false, true]) {
    const client = echoClient(outbound);
    const cancelled = app.cancelled;
    const stream = client.ServerStream({ text: 'watch', count: 100, sleepMs: 300 }, authed());
    const ended = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
    stream.on('error', () => undefined);
    await new Promise((resolve) => stream.once('data', resolve));
    stream.cancel();
    assert.equal((await ended).code, grpc.status.CANCELLED);
    await waitFor(() => app.cancelled > cancelled, `the app to see the stream cancelled (${outbound ? 'outbound' : 'edge'})`);

    const started = app.started;
    let call: grpc.ClientUnaryCall | undefined;
    const answered = new Promise<grpc.ServiceError | null>((resolve) => {
      call = client.Unary({ text: 'long', sleepMs: 15_000 }, authed(), {}, (err: grpc.ServiceError | null) => resolve(err));
    });
    await waitFor(() => app.started > started, 'the call to reach the app');
    call!.cancel();
    assert.equal((await answered)?.code, grpc.status.CANCELLED);
    await waitFor(() => app.cancelled > cancelled + 1, `the app to see the call cancelled (${outbound ? 'outbound' : 'edge'})`);
  }
});

test('east-west: a gRPC call through the sidecar outbound (h2c) reaches the service through its inbound', async () => {
  const r = await unary(echoClient(true), { text: 'east-west' });
  assert.equal(r.err, null);
  assert.equal(r.reply!.text, 'echo: east-west');
  assert.equal(r.status!.metadata.get('x-trailer')[0], 'done');
});

test('a draining sidecar lets an open bidi call finish (GOAWAY); a new call meanwhile is UNAVAILABLE', async () => {
  const client = echoClient();
  const bidi = (client.Bidi as unknown as (m: grpc.Metadata) => grpc.ClientDuplexStream<EchoRequest, EchoReply>)(authed());
  const replies: string[] = [];
  bidi.on('data', (r: EchoReply) => replies.push(r.text));
  const status = new Promise<grpc.StatusObject>((resolve) => bidi.on('status', resolve));
  bidi.write({ text: 'before' });
  await waitFor(() => replies.length === 1, 'the first reply');
  const draining = sidecar!.close();
  sidecar = undefined;
  const fresh = await unary(client, { text: 'new' });
  assert.equal(fresh.err?.code, grpc.status.UNAVAILABLE);
  bidi.write({ text: 'during' });
  await waitFor(() => replies.length === 2, 'a reply while draining');
  bidi.end();
  const s = await status;
  assert.equal(s.code, grpc.status.OK);
  assert.deepEqual(replies, ['echo: before', 'echo: during']);
  await draining;
});
