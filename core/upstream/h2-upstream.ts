// The HTTP/2 upstream (gRPC, and services declared `protocol: http2`): one stream per try on the origin's shared
// session. The request body streams as it arrives (gRPC calls are streams both ways); the response body streams
// into the client's response with backpressure (pause the stream on a full sink, resume on 'drain') and its
// trailers follow, so grpc-status and trailing metadata arrive intact. The try is bounded like poolUpstream's.
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { Readable } from 'node:stream';
import type { Exchange, HeaderValue } from '../pipeline/exchange.js';
import { HOP_BY_HOP } from '../http/hop-headers.js';
import { grpcStatusFields, isGrpcContentType } from '../http/grpc-status.js';
import { grpcTimeout } from '../http/grpc-timeout.js';
import type { H2Sessions } from './h2-sessions.js';
import { bodyKind } from '../http/request-body.js';
import { bufferedBodies, streamedBodies } from './pool.js';
import { UpstreamFailure, clientGone, upstreamError, type BodySink, type Upstream, type UpstreamBody, type UpstreamResponse } from './upstream.js';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_FLAG_END_STREAM } = http2.constants;
/** With no deadline, the wait for the response headers is still bounded, as poolUpstream's headersTimeout. */
const NO_DEADLINE_HEADERS_MS = 300_000;

type Fields = Record<string, HeaderValue>;

/** Made when the timer fires, not per try: an Error captures a stack trace. upstreamError reads the name. */
function timedOut(): Error {
  return Object.assign(new Error('upstream try timed out'), { name: 'TimeoutError' });
}

/** Header fields without the pseudo-headers (:status). */
function withoutPseudo(headers: IncomingHttpHeaders): Fields {
  const out: Fields = {};
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* : */) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function requestHeaders(x: Exchange, limitMs: number): OutgoingHttpHeaders {
  const h = x.upstreamHeaders;
  const headers: OutgoingHttpHeaders = {
    ':method': x.method,
    ':scheme': 'http',
    ':authority': (h.host as string | undefined) ?? (x.req.headers[':authority'] as string | undefined) ?? x.upstreamAddress,
    ':path': x.upstreamPath + x.query,
  };
  // RFC 9113 §8.2.2: no connection-specific fields in HTTP/2, TE only as "trailers"; Host travels as :authority.
  for (const name in h) if (name !== 'host' && (name === 'te' || !HOP_BY_HOP.has(name))) headers[name] = h[name];
  // The deadline layer told the next hop its budget in x-request-timeout-ms; a gRPC server reads grpc-timeout.
  if (Number.isFinite(limitMs) && isGrpcContentType(h['content-type'])) headers['grpc-timeout'] = grpcTimeout(limitMs);
  return headers;
}

/** What the request body is: a stage's wrapped body, a buffered replay, the client's own stream, or none. */
function requestBody(x: Exchange): Readable | Buffer | null {
  const wrapped = streamedBodies.get(x) ?? bufferedBodies.get(x);
  if (wrapped) return wrapped;
  const req = x.req;
  if (req.readableEnded) return null;
  return bodyKind(x.req) === 'none' ? null : req;
}

export function h2Upstream(sessions: H2Sessions): Upstream {
  return (x: Exchange): Promise<UpstreamResponse> => {
    if (x.clientGone) return Promise.reject(clientGone());
    const limit = Math.min(x.remainingMs(), x.perTryTimeoutMs);
    const address = x.upstreamAddress;
    const call = new H2Call(address, limit, requestBody(x));
    x.inflight = call;
    sessions.get(address, x.snapshot?.services.get(x.service)).then(
      (session) => call.start(session, requestHeaders(x, limit)),
      (err) => call.fail(err),
    );
    return call.response;
  };
}

/** One try: resolves `response` at the response headers, then is the response body the listener streams. */
class H2Call implements UpstreamBody {
  readonly response: Promise<UpstreamResponse>;
  private resolve!: (response: UpstreamResponse) => void;
  private reject!: (err: unknown) => void;
  private stream: ClientHttp2Stream | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly bounded: boolean;
  private started = false;
  private ended = false;
  /** Why the try ended early (timeout, reset, cancel); set once. */
  private failure: unknown;
  /** A gRPC response: cut after its headers, it still ends with a grpc-status rather than a bare reset. */
  private grpc = false;
  private trailers: Fields | undefined;
  private sink: BodySink | undefined;
  private done: ((err?: Error) => void) | undefined;
  private readonly onDrain = () => this.stream?.resume();
  private readonly onBodyError = (err: Error) => this.fail(err);
  /** The body is piped into the stream (only once the session is up: a try that never connected read none of it). */
  private piped = false;

  constructor(
    private readonly address: string,
    limitMs: number,
    private readonly body: Readable | Buffer | null,
  ) {
    this.response = new Promise<UpstreamResponse>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.bounded = Number.isFinite(limitMs);
    this.timer = setTimeout(() => this.fail(timedOut()), this.bounded ? Math.max(1, limitMs) : NO_DEADLINE_HEADERS_MS);
    if (body && !Buffer.isBuffer(body)) {
      // A stage's limit (413) or the client going away fails the try at once, whenever it happens: the body-limit
      // stage counts from the start, so its error often came before this try or while the session connected (the
      // call then hung until the deadline: a piped errored body never ends the stream).
      if (body.errored) this.fail(body.errored);
      else body.once('error', this.onBodyError);
    }
  }

  start(session: ClientHttp2Session, headers: OutgoingHttpHeaders): void {
    if (this.failure !== undefined) return; // timed out, cancelled or its body failed while connecting
    const body = this.body;
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: body === null });
    } catch {
      // The session began closing (GOAWAY) since it was handed out: nothing was sent, a retry opens a new one.
      this.fail(new UpstreamFailure('upstream_failed', 'The upstream connection was closing.', 'connect', this.address));
      return;
    }
    this.stream = stream;
    stream.on('response', (fields, flags) => this.onResponse(fields, flags));
    stream.on('trailers', (fields) => (this.trailers = withoutPseudo(fields)));
    stream.once('end', () => this.finish());
    // How it failed is read from the stream's RST code at 'close'; 'error' only needs a listener.
    stream.on('error', () => undefined);
    stream.once('close', () => this.onClose());
    if (Buffer.isBuffer(body)) stream.end(body);
    else if (body) {
      this.piped = true;
      body.pipe(stream);
    }
  }

  private onResponse(fields: IncomingHttpHeaders, flags: number): void {
    if (this.failure !== undefined) return;
    const status = Number(fields[':status']);
    let headers = withoutPseudo(fields);
    this.grpc = isGrpcContentType(headers['content-type']);
    if (this.grpc && flags & NGHTTP2_FLAG_END_STREAM) {
      // Trailers-only (an immediate gRPC status): the listener writes a head and then ends, so the fields are
      // sent as trailers after a head that only has the content type, which gRPC clients read the same way.
      const { 'content-type': contentType, ...trailing } = headers;
      headers = { 'content-type': contentType };
      this.trailers = trailing;
    }
    this.started = true;
    if (!this.bounded) clearTimeout(this.timer); // no deadline: only the wait for the headers was bounded
    this.resolve({ status, headers, body: this });
  }

  pipeTo(sink: BodySink, done: (err?: Error) => void): void {
    this.sink = sink;
    this.done = done;
    if (this.failure !== undefined) return this.cut();
    const stream = this.stream!;
    stream.on('data', (chunk: Buffer) => {
      if (!sink.write(chunk)) {
        stream.pause();
        sink.once('drain', this.onDrain);
      }
    });
  }

  /** A response we will not forward (a retried try): reset the stream; the session is unaffected. */
  dump(): void {
    if (this.ended || this.failure !== undefined) return;
    this.failure = new Error('response discarded');
    clearTimeout(this.timer);
    this.stream?.close(NGHTTP2_CANCEL);
  }

  /** The client went away: RST_STREAM CANCEL tells the upstream (a gRPC server sees the call cancelled). */
  destroy(err: Error = new Error('upstream request cancelled')): void {
    if (this.ended || this.failure !== undefined) return;
    this.sink = undefined; // nothing more is written to a client that is gone
    this.fail(err);
  }

  fail(err: unknown): void {
    if (this.ended || this.failure !== undefined) return;
    this.failure = err;
    clearTimeout(this.timer);
    this.release();
    if (this.stream && !this.stream.closed) this.stream.close(NGHTTP2_CANCEL);
    if (!this.started) this.reject(upstreamError(err, this.address));
    else if (this.sink) this.cut();
    else this.settle(err as Error);
  }

  private onClose(): void {
    clearTimeout(this.timer);
    if (this.ended || this.failure !== undefined) return;
    const code = this.stream!.rstCode;
    // RFC 9113 §8.7: a refused stream was not processed, so it is safe to send again (as a connect failure is).
    const kind = code === NGHTTP2_REFUSED_STREAM ? 'connect' : 'reset';
    this.fail(new UpstreamFailure('upstream_failed', 'The upstream reset the stream.', kind, this.address));
  }

  /** The body ended: its trailers (or the trailers-only fields), then the end. */
  private finish(): void {
    if (this.failure !== undefined) return;
    this.ended = true;
    clearTimeout(this.timer);
    if (this.body && !Buffer.isBuffer(this.body)) this.body.off('error', this.onBodyError);
    const sink = this.sink!;
    if (this.trailers && sink.addTrailers) sink.addTrailers(this.trailers);
    sink.end();
    this.settle();
  }

  /**
   * The try failed: the body stays with the exchange, unpiped and paused, and this try no longer listens to it (a
   * retry attaches its own). A retry may send it again if none of it was read (a connect failure, a refused stream).
   */
  private release(): void {
    const body = this.body;
    if (!body || Buffer.isBuffer(body)) return;
    body.off('error', this.onBodyError);
    if (this.piped) body.unpipe(this.stream);
  }

  /** Cut after the headers went out: a gRPC call still ends with its status (4 after the deadline, 14 on a reset). */
  private cut(): void {
    const sink = this.sink!;
    if (this.grpc && sink.addTrailers) {
      sink.addTrailers(grpcStatusFields(upstreamError(this.failure, this.address)));
      sink.end();
      this.settle();
    } else this.settle(this.failure as Error);
  }

  private settle(err?: Error): void {
    const done = this.done;
    this.done = undefined;
    done?.(err);
  }
}
