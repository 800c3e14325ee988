// The HTTP/2 upstream against a real node:http2 server (h2c): what the upstream receives (authority, TE trailers,
// a reduced grpc-timeout, no connection-specific fields, the body), trailers and trailers-only answers handed on,
// backpressure, the deadline before and after the headers (a gRPC call still ends with a status), refused streams
// and connections classed as never sent, a client that goes away cancelling the stream, and a request body that
// fails (the body-limit stage's 413) failing the try whenever it happens.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import { PassThrough } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { H2Sessions } from '../../../../core/upstream/h2-sessions.js';
import { h2Upstream } from '../../../../core/upstream/h2-upstream.js';
import { streamedBodies } from '../../../../core/upstream/pool.js';
import { UpstreamFailure, type BodySink, type UpstreamResponse } from '../../../../core/upstream/upstream.js';
import { MeshError } from '../../../../core/errors.js';
import { layerExchange, layerSnapshot, type ExchangeOptions } from '../../../support/layer-exchange.js';
import { freePort } from '../../../support/free-port.js';

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;
const handlers = new Map<string, Handler>();
const closed = new Map<string, number>();
let server: http2.Http2Server;
let address: string;
const sessions = new H2Sessions();
const upstream = h2Upstream(sessions);

before(async () => {
  server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    stream.on('close', () => closed.set(path, stream.rstCode));
    stream.on('error', () => undefined);
    handlers.get(path)!(stream, headers);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await sessions.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function call(path: string, handler: Handler, o: ExchangeOptions & { upstreamHeaders?: Record<string, string> } = {}) {
  handlers.set(path, handler);
  const x = layerExchange(layerSnapshot(), { method: 'POST', ...o });
  x.upstreamAddress = address;
  x.upstreamPath = path;
  Object.assign(x.upstreamHeaders, o.upstreamHeaders);
  return { x, response: upstream(x) };
}

/** A client response: records what is written, and is full (write → false, 'drain' soon after) when `full`. */
class Sink extends EventEmitter implements BodySink {
  chunks: Buffer[] = [];
  trailers: Record<string, string | string[]> | undefined;
  ended = false;
  drains = 0;
  constructor(private readonly full = false) {
    super();
  }
  write(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    if (this.full) setTimeout(() => (this.drains++, this.emit('drain')), 1);
    return !this.full;
  }
  end(): void {
    this.ended = true;
  }
  addTrailers(trailers: Record<string, string | string[]>): void {
    this.trailers = trailers;
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

function pipe(response: UpstreamResponse, sink = new Sink()): Promise<{ sink: Sink; err?: Error }> {
  return new Promise((resolve) => response.body.pipeTo(sink, (err) => resolve({ sink, err })));
}

test('the upstream gets :authority, TE trailers, a reduced grpc-timeout, no connection fields, and the body', async () => {
  let seen: http2.IncomingHttpHeaders = {};
  let body = '';
  const { response } = call(
    '/pkg.Svc/Call',
    (stream, headers) => {
      seen = headers;
      stream.on('data', (c: Buffer) => (body += c));
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-head': 'h' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-trailer': 't' }));
        stream.end('reply');
      });
    },
    {
      body: 'request-bytes',
      budgetMs: 5_000,
      upstreamHeaders: { host: 'api.test', 'content-type': 'application/grpc', te: 'trailers', connection: 'keep-alive', 'keep-alive': 'timeout=5', 'grpc-timeout': '1H', 'x-custom': 'c' },
    },
  );
  const r = await response;
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-head'], 'h');
  assert.equal(r.headers[':status'], undefined, 'no pseudo-headers');
  const { sink, err } = await pipe(r);
  assert.equal(err, undefined);
  assert.equal(sink.text, 'reply');
  assert.deepEqual({ ...sink.trailers }, { 'grpc-status': '0', 'x-trailer': 't' });
  assert.ok(sink.ended);
  assert.equal(body, 'request-bytes');
  assert.equal(seen[':authority'], 'api.test');
  assert.equal(seen[':method'], 'POST');
  assert.equal(seen.te, 'trailers');
  assert.equal(seen['x-custom'], 'c');
  assert.equal(seen.host, undefined);
  assert.equal(seen.connection, undefined);
  assert.equal(seen['keep-alive'], undefined);
  const timeout = /^(\d+)m$/.exec(String(seen['grpc-timeout']));
  assert.ok(timeout && Number(timeout[1]) <= 5_000 && Number(timeout[1]) > 0, `grpc-timeout ${seen['grpc-timeout']}`);
});

test('a trailers-only gRPC answer becomes a head with the content type and the rest as trailers', async () => {
  const { response } = call('/pkg.Svc/Missing', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto', 'grpc-status': '5', 'grpc-message': 'not%20found', 'x-why': 'w' }, { endStream: true });
  });
  const r = await response;
  assert.deepEqual({ ...r.headers }, { 'content-type': 'application/grpc+proto' });
  const { sink, err } = await pipe(r);
  assert.equal(err, undefined);
  assert.equal(sink.trailers?.['grpc-status'], '5');
  assert.equal(sink.trailers?.['grpc-message'], 'not%20found');
  assert.equal(sink.trailers?.['x-why'], 'w');
  assert.ok(sink.ended);
});

test('a full client response pauses the stream until drain; every byte arrives in order', async () => {
  const parts = Array.from({ length: 64 }, (_, i) => `${String(i).padStart(3, '0')}:${'x'.repeat(4_000)}|`);
  const { response } = call('/big', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
    for (const part of parts) stream.write(part);
    stream.end();
  });
  const { sink, err } = await pipe(await response, new Sink(true));
  assert.equal(err, undefined);
  assert.equal(sink.text, parts.join(''));
  assert.ok(sink.drains > 0);
});

test('the deadline before the headers: deadline_exceeded, and the upstream stream is cancelled', async () => {
  const { response } = call('/slow', () => undefined, { budgetMs: 100 });
  await assert.rejects(response, (err: MeshError) => err.code === 'deadline_exceeded');
  await waitUntil(() => closed.get('/slow') === http2.constants.NGHTTP2_CANCEL);
});

test('the deadline after the headers: a gRPC call ends with DEADLINE_EXCEEDED trailers, not a reset', async () => {
  const { response } = call(
    '/stall',
    (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.write('first');
    },
    { budgetMs: 300 },
  );
  const { sink, err } = await pipe(await response);
  assert.equal(err, undefined);
  assert.equal(sink.text, 'first');
  assert.equal(sink.trailers?.['grpc-status'], '4');
  assert.ok(sink.ended);
});

test('a non-gRPC response cut mid-body reports the error (the listener resets the client stream)', async () => {
  const { response } = call('/cut', (stream) => {
    stream.respond({ ':status': 200 });
    stream.write('part');
    setTimeout(() => stream.destroy(new Error('upstream failed')), 20); // RST_STREAM INTERNAL_ERROR
  });
  const { sink, err } = await pipe(await response);
  assert.ok(err);
  assert.equal(sink.trailers, undefined);
});

test('a refused stream and a refused connection are never-sent failures (safe to retry)', async () => {
  const { response } = call('/refuse', (stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM));
  await assert.rejects(response, (err: UpstreamFailure) => err instanceof UpstreamFailure && err.kind === 'connect');

  const x = layerExchange(layerSnapshot(), { method: 'POST' });
  x.upstreamAddress = `127.0.0.1:${await freePort()}`;
  await assert.rejects(upstream(x), (err: UpstreamFailure) => err instanceof UpstreamFailure && err.kind === 'connect' && err.code === 'upstream_failed');
});

test('a client that goes away cancels the upstream stream (RST_STREAM CANCEL)', async () => {
  const { x, response } = call('/long', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    stream.write('tick');
  });
  const r = await response;
  const piped = pipe(r);
  x.inflight!.destroy();
  const { err } = await piped;
  assert.ok(err);
  await waitUntil(() => closed.get('/long') === http2.constants.NGHTTP2_CANCEL);
});

/** A try whose request body is `body`, as a stage wraps it (the body-limit stage's counting stream). */
function callWithBody(path: string, body: PassThrough, handler: Handler, sessionSet = sessions) {
  handlers.set(path, handler);
  const x = layerExchange(layerSnapshot(), { method: 'POST', budgetMs: 5_000 });
  x.upstreamAddress = address;
  x.upstreamPath = path;
  streamedBodies.set(x, body);
  return { x, response: h2Upstream(sessionSet)(x) };
}

test('a body that failed before the try, or fails while the session connects, fails the try at once (the 413 is not lost)', async () => {
  // Before, the try listened to its body only once connected: the body-limit stage's 413 had often been emitted by
  // then, the errored body was piped and never ended the stream, and the call hung until the deadline (504).
  const tooLarge = new MeshError('payload_too_large');
  const opened: string[] = [];
  const failed = new PassThrough().on('error', () => undefined); // the stage listens to its own stream
  failed.destroy(tooLarge);
  const before = callWithBody('/never-before', failed, () => opened.push('before'));
  await assert.rejects(before.response, (err: MeshError) => err.code === 'payload_too_large');

  const connecting = new H2Sessions(); // a new session: the try waits for it to connect
  const body = new PassThrough().on('error', () => undefined);
  const during = callWithBody('/never-during', body, () => opened.push('during'), connecting);
  body.destroy(tooLarge);
  await assert.rejects(during.response, (err: MeshError) => err.code === 'payload_too_large');
  await connecting.close();
  assert.deepEqual(opened, [], 'no stream was opened');
});

test('a body that fails after the stream opened fails the try and cancels the upstream stream', async () => {
  const body = new PassThrough();
  let reached!: () => void;
  const received = new Promise<void>((resolve) => (reached = resolve));
  const { response } = callWithBody('/limited', body, (stream) => stream.once('data', () => reached()));
  body.write('first bytes');
  await received;
  body.destroy(new MeshError('payload_too_large'));
  await assert.rejects(response, (err: MeshError) => err.code === 'payload_too_large');
  await waitUntil(() => closed.get('/limited') === http2.constants.NGHTTP2_CANCEL);
});

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(condition());
}
