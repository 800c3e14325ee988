// Listening and closing the mesh's HTTP servers: hardened parser settings and HTTP/2 limits, a JSON answer to bad
// framing, the bound port logged, graceful close (stop accepting, finish in-flight, drop idle keep-alives), and one
// port serving both HTTP/1.1 and cleartext HTTP/2 for the mesh's own hops.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net, { type Server as NetServer, type Socket, type AddressInfo } from 'node:net';
import { errorBody, MeshError } from '../errors.js';
import type { Logger } from '../telemetry/log.js';
import { routeMetrics } from '../telemetry/metrics.js';
import { isGrpcRequest, sendGrpcError } from './grpc-status.js';

export interface HttpLimits {
  /** Bytes of request headers (431 beyond). */
  maxHeaderSize: number;
  /** Time to receive the whole request head (slow-loris bound). */
  headersTimeoutMs: number;
  /** Time to receive the whole request. */
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Requests served on one connection before it is closed. */
  maxRequestsPerSocket: number;
  /** Header fields per request (the edge answers 431 beyond; node would silently drop the rest). */
  maxHeaderCount: number;
  /** An HTTP/2 session with no stream open this long gets GOAWAY and closes (HTTP/1.1's keep-alive bound). */
  http2IdleTimeoutMs: number;
}

export const DEFAULT_LIMITS: HttpLimits = {
  maxHeaderSize: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxRequestsPerSocket: 10_000,
  maxHeaderCount: 100,
  http2IdleTimeoutMs: 60_000,
};

export function serverOptions(limits: HttpLimits = DEFAULT_LIMITS): http.ServerOptions {
  return {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often node looks for connections past headersTimeout/requestTimeout (its default, 30 s, lets a
    // slow-loris client hold a socket far longer than the limits say).
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
    // Host is checked by every mesh listener's request-framing stage, so a missing one is a JSON 400 like every
    // other refusal (node's own check answers an empty 400).
    requireHostHeader: false,
    joinDuplicateHeaders: false,
    insecureHTTPParser: false,
  };
}

/** Limits that are server properties rather than constructor options. */
export function applyLimits(server: http.Server, limits: HttpLimits = DEFAULT_LIMITS): void {
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  // Node answers the last allowed request with "Connection: close" but leaves the socket open (and answers
  // more pipelined requests 503): close it ourselves once that response is out.
  const served = new WeakMap<object, number>();
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const n = (served.get(req.socket) ?? 0) + 1;
    served.set(req.socket, n);
    if (n >= limits.maxRequestsPerSocket) res.once('finish', () => req.socket.end());
  });
  // One past the limit, so the edge sees that the limit was crossed (node truncates, it does not refuse).
  server.maxHeadersCount = limits.maxHeaderCount + 1;
}

/**
 * The HTTP/2 side of the same limits, for every listener that speaks HTTP/2 (the edge's TLS and plain ports, the
 * sidecars' h2c ports): 128 concurrent streams, a header list (SETTINGS_MAX_HEADER_LIST_SIZE: names, values and
 * 32 bytes per field, RFC 9113 §6.5.2) no bigger than HTTP/1.1's header limit, as many pairs as fit in it and 10 MB of session
 * memory. Without them node advertises 2^32 - 1 streams and header bytes.
 */
export function http2Limits(limits: HttpLimits = DEFAULT_LIMITS) {
  return {
    maxSessionMemory: 10,
    settings: { maxConcurrentStreams: 128, maxHeaderListSize: limits.maxHeaderSize },
    // As many fields as fit in the header list (32 bytes each at least), so one over the field count reaches the
    // request-framing stage and gets its 431 as over HTTP/1.1, instead of a stream reset from nghttp2.
    maxHeaderListPairs: Math.floor(limits.maxHeaderSize / 32),
  } satisfies http2.ServerOptions;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Size of a header list as SETTINGS_MAX_HEADER_LIST_SIZE counts it (RFC 9113 §6.5.2), from [name, value, ...]. */
function headerListSize(raw: string[]): number {
  let size = 16 * raw.length; // 32 bytes per field, two entries per field
  for (let i = 0; i < raw.length; i++) size += raw[i].length;
  return size;
}

/**
 * An HTTP/2 listener's request handler behind its header limit. nghttp2 applies the advertised header list size
 * only once the client has acknowledged our SETTINGS, and a client sends its first requests before that: those
 * reached the app whatever their size. Such a request gets the 431 an HTTP/1.1 one gets from the parser (JSON, or
 * a gRPC status for a gRPC call), logged and counted the same way. HTTP/1.1 requests (the TLS port's) pass.
 */
export function limitHttp2Headers(handler: Handler, limits: HttpLimits, log: Logger, tier: string): Handler {
  const refused = refusals(log, tier);
  return (req, res) => {
    if (req.httpVersionMajor === 1 || headerListSize(req.rawHeaders) <= limits.maxHeaderSize) return handler(req, res);
    const stream = (req as unknown as http2.Http2ServerRequest).stream;
    if (stream.destroyed || stream.closed) return; // reset by the client already: nothing to answer
    const error = new MeshError('headers_too_large');
    const requestId = refused(error, { protocol: 'h2' });
    if (isGrpcRequest(req)) return sendGrpcError(res, error, { 'x-request-id': requestId });
    const body = errorBody(error, requestId);
    res.writeHead(error.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-request-id': requestId });
    res.end(body);
  };
}

/**
 * Logs and counts a request refused before any stage ran (no access-log line would name it), under no route, and
 * gives it the id the client is told. Admin listeners (`count: false`) are not the data path: not counted.
 */
function refusals(log: Logger, tier: string, count = true): (error: MeshError, detail: Record<string, unknown>) => string {
  const metrics = count ? routeMetrics(tier, '', '') : undefined;
  return (error, detail) => {
    const requestId = randomUUID();
    metrics?.refused(error.status);
    log.info({ tier, requestId, status: error.status, error: error.code, ...detail }, 'request refused before routing');
    return requestId;
  };
}

/** Sockets whose current request was refused for its framing: whatever follows on them is never answered. */
const refusedSockets = new WeakSet<object>();

/** Mark a connection as done: its refusal is the last response (bytes after it are not parsed into answers). */
export function refuseConnection(socket: object): void {
  refusedSockets.add(socket);
}

/** How the pipeline's listener answers one of its requests whose body fails to arrive (see onBodyFailure). */
type BodyFailureAnswer = (error: MeshError) => void;
/**
 * Held on the response itself, not in a WeakMap: a WeakMap entry whose value reaches its key (the answer holds the
 * exchange, which holds the response) is an ephemeron, and V8's young-generation GC keeps those alive. Every
 * request's exchange was promoted to the old generation: +57 MB peak RSS and ~100 µs of CPU per request in the bench.
 */
const BODY_FAILURE = Symbol('meshgate.bodyFailure');
type Answerable = http.ServerResponse & { [BODY_FAILURE]?: BodyFailureAnswer };
/** The latest response on an HTTP/1.1 connection, on the socket for the same reason (the response reaches its socket). */
const LATEST = Symbol('meshgate.latestResponse');
type Serving = Socket & { [LATEST]?: http.ServerResponse };

/**
 * How `res`'s request is answered if its body fails to arrive whole: the request timeout runs out while the client
 * stalls, or the body's framing is malformed (a bad chunk). The request is in flight then, and only the listener
 * knows its id, cancels its upstream try and writes its access line, so it answers, once; core/http cannot reach
 * the pipeline, so the listener registers here. (A client that goes away mid-body needs no answer: its connection
 * is closed, which closes the response.)
 */
export function onBodyFailure(res: http.ServerResponse, answer: BodyFailureAnswer): void {
  (res as Answerable)[BODY_FAILURE] = answer;
}

function parserError(err: NodeJS.ErrnoException): MeshError {
  if (err.code === 'HPE_HEADER_OVERFLOW') return new MeshError('headers_too_large');
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new MeshError('request_timeout');
  return new MeshError('bad_request', 'The request framing or headers are malformed.');
}

/**
 * Parser-level rejections (ambiguous framing, bad header bytes, oversize heads) get a JSON 4xx and a closed socket.
 * So does CONNECT: the mesh routes origin-form requests and is nobody's tunnel (RFC 9110 §9.3.6); without a
 * 'connect' listener node would drop the connection without a word. A parser error in the middle of a request's body
 * is that request's (node reports both the same way): see failMidBody.
 */
export function answerClientErrors(server: NetServer, log: Logger, tier: string, options: { count?: boolean } = {}): void {
  refuseConnect(server);
  // Admin listeners answer the same way but are not the data path: their refusals stay out of meshgate_requests_total.
  const refused = refusals(log, tier, options.count !== false);
  // The latest request on each HTTP/1.1 connection: while its body is still arriving, a parser error is its own.
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.httpVersionMajor === 1) (req.socket as Serving)[LATEST] = res;
  });
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
    // A TLS error (handshake timeout, a bad ClientHello) comes before any HTTP: http2's secure server hands it here.
    // An HTTP answer written into a handshake that never completed was never sent, and the socket stayed open.
    if (!socket.writable || err.code === 'ECONNRESET' || err.code?.startsWith('ERR_TLS') || err.code?.startsWith('ERR_SSL')) {
      socket.destroy();
      return;
    }
    if (refusedSockets.has(socket)) {
      // The refusal already written is the last response; close once it is flushed.
      socket.end();
      return;
    }
    const res = (socket as Serving)[LATEST];
    if (res && !res.req.complete) {
      failMidBody(res, socket, err, refused);
      return;
    }
    const error = parserError(err);
    // No stage ran, so no access-log line would name this request: one here, with the id the client was given, and
    // the request counted under no route (before, a 400/408/431 from node's parser was neither logged nor counted).
    const requestId = refused(error, { parser: err.code, clientIp: socket.remoteAddress });
    socket.end(rawErrorResponse(error.status, errorBody(error, requestId)));
  });
}

/**
 * A parser error while `res`'s request body is arriving belongs to that request, whose handler is running: it was
 * logged and counted a second time as a refusal with another id (a client gone mid-upload as a 400 bad_request,
 * next to its own 499), and a stalled body got a raw 408 whose id matched neither its access line nor its trace.
 * A client gone mid-body (EOF) gets no answer: the connection closes, and with it the response, which the listener
 * records (client_closed, 499) and cancels upstream. A timeout or a malformed body is answered by the listener as
 * that request, once (onBodyFailure), and the connection closes after it: the rest of that body is never read. A
 * response already complete needs nothing more than the close.
 */
function failMidBody(res: http.ServerResponse, socket: Socket, err: NodeJS.ErrnoException, refused: ReturnType<typeof refusals>): void {
  if (err.code === 'HPE_INVALID_EOF_STATE' || res.writableEnded) {
    socket.end(() => socket.destroy());
    return;
  }
  const error = parserError(err);
  const answer = (res as Answerable)[BODY_FAILURE];
  if (!res.headersSent) res.setHeader('connection', 'close'); // node closes the socket once the answer is out
  if (answer) answer(error);
  else if (!res.headersSent) {
    // A server without the pipeline's listener (an admin port): answered here, logged and counted as a refusal.
    const body = errorBody(error, refused(error, { parser: err.code, clientIp: socket.remoteAddress }));
    res.writeHead(error.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
  // Whatever could not be answered (its response was under way) is cut.
  if (!res.writableEnded) socket.destroy();
}

/** CONNECT gets a JSON 400: over HTTP/1.1 on the raw socket (then closed), over HTTP/2 on its stream. */
export function refuseConnect(server: NetServer | http2.Http2Server): void {
  server.on('connect', (req: http.IncomingMessage | http2.Http2ServerRequest, socketOrResponse: Socket | http2.Http2ServerResponse) => {
    const error = new MeshError('bad_request', 'CONNECT is not supported: the request target must be origin-form.');
    const body = errorBody(error, randomUUID());
    if (req.httpVersionMajor === 1) {
      (socketOrResponse as Socket).end(rawErrorResponse(error.status, body));
      return;
    }
    const res = socketOrResponse as http2.Http2ServerResponse;
    res.writeHead(error.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}

/** A complete HTTP/1.1 JSON error response for a raw socket (parser errors, refused upgrades); closes after. */
export function rawErrorResponse(status: number, body: string, headers: Record<string, string> = {}): string {
  let extra = '';
  for (const name in headers) extra += `${name}: ${headers[name]}\r\n`;
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`;
}

export async function listen(server: NetServer, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Stop accepting, let in-flight requests finish within `graceMs`, then cut what is left. */
async function drain(listening: NetServer, http1: http.Server, graceMs: number, cutAll?: () => void): Promise<void> {
  const closed = new Promise<void>((resolve) => listening.close(() => resolve()));
  http1.closeIdleConnections();
  const timer = setTimeout(() => {
    http1.closeAllConnections();
    cutAll?.();
  }, graceMs);
  timer.unref();
  // Keep-alive sockets that become idle after their last response must go too.
  const sweep = setInterval(() => http1.closeIdleConnections(), 100);
  sweep.unref();
  await closed;
  clearTimeout(timer);
  clearInterval(sweep);
}

/**
 * The live HTTP/2 sessions of a server, bounded like HTTP/1.1 connections: a client that has not sent its SETTINGS
 * within the head timeout is dropped (as a slow request head), and a session with no stream open for
 * `http2IdleTimeoutMs` gets GOAWAY (as an idle keep-alive is closed). Without these node keeps a silent session
 * open for ever. For a graceful close: a GOAWAY to each, then cut whatever is left.
 */
class Http2Sessions {
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  constructor(server: http2.Http2Server | http2.Http2SecureServer, limits: HttpLimits) {
    server.on('session', (session: http2.ServerHttp2Session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      boundIdle(session, limits);
    });
  }

  /** No new streams; the open ones finish. */
  goAway(): void {
    for (const session of this.sessions) session.close();
  }

  cut(): void {
    for (const session of this.sessions) session.destroy();
  }
}

function boundIdle(session: http2.ServerHttp2Session, limits: HttpLimits): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined = setTimeout(() => session.destroy(), limits.headersTimeoutMs);
  const stop = () => {
    clearTimeout(timer);
    timer = undefined;
  };
  const idle = () => {
    stop();
    if (open === 0 && !session.closed && !session.destroyed) timer = setTimeout(() => session.close(), limits.http2IdleTimeoutMs);
  };
  session.once('remoteSettings', idle);
  session.on('stream', (stream: http2.ServerHttp2Stream) => {
    open++;
    stop();
    stream.once('close', () => {
      open--;
      idle();
    });
  });
  session.once('close', stop);
}

/**
 * The connections of a TLS server that speaks HTTP/2 and HTTP/1.1 (the edge's), for a graceful close: every
 * HTTP/2 session gets a GOAWAY and finishes its streams, an HTTP/1.1 connection is closed once it has no request
 * in flight, and whatever is still open when the grace is over is cut (node's Http2SecureServer has no
 * closeIdleConnections, and its close() otherwise waits for every client to leave).
 */
export class SecureConnections {
  private readonly sockets = new Set<Socket>();
  private readonly raw = new Set<Socket>();
  private readonly sessions: Http2Sessions;
  private readonly busy = new Map<Socket, number>();
  private closing = false;

  constructor(
    private readonly server: http2.Http2SecureServer,
    limits: HttpLimits = DEFAULT_LIMITS,
  ) {
    this.sessions = new Http2Sessions(server, limits);
    // Every TCP connection, from before its handshake: one still handshaking at close is cut with the rest at the
    // grace period (it held the process past it).
    server.on('connection', (socket: Socket) => {
      this.raw.add(socket);
      socket.once('close', () => this.raw.delete(socket));
    });
    server.on('secureConnection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        this.busy.delete(socket);
      });
    });
    // An upgraded (WebSocket) connection is never idle: the tunnels get the grace period, then are cut.
    server.on('upgrade', (_req: http.IncomingMessage, socket: Socket) => this.busy.set(socket, Infinity));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (req.httpVersionMajor !== 1) return;
      const socket = req.socket;
      this.busy.set(socket, (this.busy.get(socket) ?? 0) + 1);
      res.once('close', () => {
        const left = (this.busy.get(socket) ?? 1) - 1;
        this.busy.set(socket, left);
        if (this.closing && left === 0) socket.end();
      });
    });
  }

  async close(graceMs: number): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.sessions.goAway();
    for (const socket of this.sockets) if ((socket as Socket & { alpnProtocol?: string | false }).alpnProtocol !== 'h2' && !this.busy.get(socket)) socket.end();
    const timer = setTimeout(() => {
      this.sessions.cut();
      for (const socket of this.sockets) socket.destroy();
      for (const socket of this.raw) socket.destroy();
    }, graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }
}

/** The first bytes of an HTTP/2 connection (RFC 9113 §3.4); no HTTP/1.1 request starts with "PRI ". */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const SNIFF_BYTES = 4;

/**
 * One port for HTTP/1.1 and cleartext HTTP/2 with prior knowledge (RFC 9113 §3.3): the first bytes of each
 * connection decide which server gets the socket; both run the same request handler. The mesh's own hops use
 * HTTP/2 for gRPC (trailers, full-duplex streams), everything else keeps HTTP/1.1.
 */
export class DualProtocolServer {
  /** The server that listens (pass it to listen()). */
  readonly listener: NetServer;
  readonly http2: http2.Http2Server;
  private readonly sniffing = new Set<Socket>();
  private readonly sessions: Http2Sessions;

  /**
   * `http1` runs `handler` already (node's server options from serverOptions(limits)); HTTP/2 gets the same handler
   * behind the same limits (http2Limits, limitHttp2Headers). Bad framing is answered on both, refusals logged and
   * counted under `tier`.
   */
  constructor(
    readonly http1: http.Server,
    handler: Handler,
    log: Logger,
    tier: string,
    private readonly limits: HttpLimits = DEFAULT_LIMITS,
  ) {
    answerClientErrors(http1, log, tier);
    this.http2 = http2.createServer(http2Limits(limits), limitHttp2Headers(handler, limits, log, tier) as never);
    refuseConnect(this.http2);
    this.sessions = new Http2Sessions(this.http2, limits);
    this.listener = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.sniff(socket));
    // node starts the HTTP/1.1 slow-client checks (headersTimeout, requestTimeout) when its server listens.
    this.listener.once('listening', () => http1.emit('listening'));
  }

  private sniff(socket: Socket): void {
    this.sniffing.add(socket);
    let seen: Buffer = Buffer.alloc(0);
    const drop = () => socket.destroy();
    const release = () => {
      this.sniffing.delete(socket);
      socket.off('readable', onReadable);
      socket.off('error', drop);
      socket.off('close', release);
      socket.off('timeout', drop);
      socket.setTimeout(0);
    };
    const onReadable = () => {
      for (let chunk: Buffer | null; (chunk = socket.read()) !== null; ) seen = seen.length ? Buffer.concat([seen, chunk]) : chunk;
      const n = Math.min(seen.length, SNIFF_BYTES);
      const h2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (h2 && n < SNIFF_BYTES) return; // could still be either: wait for more bytes
      release();
      socket.unshift(seen);
      if (h2) socket.allowHalfOpen = false; // as an HTTP/2 server's own sockets: a client FIN ends the session
      (h2 ? this.http2 : this.http1).emit('connection', socket);
    };
    socket.on('readable', onReadable);
    socket.on('error', drop);
    socket.once('close', release);
    // A connection that never says anything is dropped like a slow request head.
    socket.setTimeout(this.limits.headersTimeoutMs, drop);
  }

  /** Stop accepting, let in-flight requests and streams finish within `graceMs` (HTTP/2: GOAWAY), then cut. */
  async close(graceMs: number): Promise<void> {
    for (const socket of this.sniffing) socket.destroy();
    this.sessions.goAway();
    this.http1.close(); // not listening itself: this stops its slow-client checks and drops idle keep-alives
    await drain(this.listener, this.http1, graceMs, () => this.sessions.cut());
  }
}
