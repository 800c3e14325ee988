// HTTP/2 abuse guard on every HTTP/2 listener (the edge's TLS port, the sidecars' h2c ports): a session whose client resets more than `maxResetsPerWindow`
// streams in one window (rapid reset, CVE-2023-44487) is sent GOAWAY ENHANCE_YOUR_CALM and destroyed, so the
// process keeps serving everyone else. CONTINUATION floods (CVE-2024-27983/28182) are bounded by nghttp2 and by
// maxHeaderListSize (http2Limits in serve.ts) and end the session with an error that is counted here too.
// The guard must be stricter than nghttp2's own reset limit (a 1000 burst refilled at 33/s): that limit only
// sends a graceful GOAWAY and leaves the connection open, with no event telling us it happened.
// skipResetStreams keeps the streams a client resets at once from being routed and forwarded at all.
import type http from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { client, registry } from '../telemetry/metrics.js';
import { logger } from '../telemetry/log.js';

export interface FloodGuardOptions {
  /** Client-reset streams tolerated per session per window (default 200). */
  maxResetsPerWindow?: number;
  /** Default 10 s: 20 resets/s sustained, under nghttp2's 33/s, so the guard (not nghttp2) ends a steady drip. */
  windowMs?: number;
}

/** nghttp2's stream-reset rate limit (its defaults, which Node keeps): burst and refill per second. */
const NGHTTP2_RESET_BURST = 1_000;
const NGHTTP2_RESET_RATE = 33;

const closedSessions = new client.Counter({
  name: 'meshgate_http2_sessions_closed_total',
  help: 'HTTP/2 sessions closed for abuse, by tier and reason',
  labelNames: ['tier', 'reason'],
  registers: [registry],
});

const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR } = http2.constants;
const log = logger('http2-guard');

export function guardHttp2(tier: string, server: http2.Http2SecureServer | http2.Http2Server, o: FloodGuardOptions = {}): void {
  const max = o.maxResetsPerWindow ?? 200;
  const windowMs = o.windowMs ?? 10_000;
  // A fixed window lets up to 2 × max through across its boundary.
  if (2 * max >= NGHTTP2_RESET_BURST || (max * 1_000) / windowMs >= NGHTTP2_RESET_RATE) {
    log.warn({ tier, maxResetsPerWindow: max, windowMs }, 'HTTP/2 reset limit is looser than nghttp2\'s: an abuser may be left holding its connection');
  }
  // The raw TCP sockets by peer, so an abuser's connection can be cut even if the session's close stalls.
  const sockets = new Map<string, Socket>();
  server.on('connection', (socket: Socket) => {
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    sockets.set(key, socket);
    socket.once('close', () => sockets.delete(key));
  });
  server.on('session', (session) => {
    let windowStart = performance.now();
    let resets = 0;
    let punished = false;
    const punish = (reason: string) => {
      if (punished || session.destroyed) return;
      punished = true;
      closedSessions.labels(tier, reason).inc();
      log.warn({ tier, reason, remote: session.socket?.remoteAddress }, 'closing abusive HTTP/2 session');
      // Outside nghttp2's callback (a destroy from inside a stream's close is not flushed over TLS), and with the
      // code as the first argument: destroy(code) sends GOAWAY ENHANCE_YOUR_CALM and closes the socket, while
      // goaway() + destroy() leaves a TLS socket open. No graceful drain for an abuser.
      const key = `${session.socket?.remoteAddress}:${session.socket?.remotePort}`;
      setImmediate(() => {
        session.destroy(NGHTTP2_ENHANCE_YOUR_CALM as unknown as Error); // node accepts a code here; @types does not
        // A TLS session's close can stall behind unflushed output: the GOAWAY had its chance, now the socket goes.
        setTimeout(() => sockets.get(key)?.destroy(), 250).unref();
      });
    };
    session.on('stream', (stream) => {
      stream.once('close', () => {
        // A stream reset before we sent its response headers: the rapid-reset pattern (open, cancel, repeat).
        if (stream.rstCode === NGHTTP2_NO_ERROR || stream.headersSent) return;
        const now = performance.now();
        if (now - windowStart > windowMs) {
          windowStart = now;
          resets = 0;
        }
        if (++resets > max) punish('rapid_reset');
      });
    });
    // destroy(code) emits the session error it sends; nghttp2's own limits (CONTINUATION, reset bursts) end here too.
    session.on('error', (err: NodeJS.ErrnoException) => {
      if (!punished) closedSessions.labels(tier, 'protocol_error').inc();
      log.debug({ code: err.code }, 'HTTP/2 session error');
    });
  });
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/**
 * The TLS listener's request handler, run one event-loop turn late for HTTP/2: nghttp2 hands over a stream's
 * HEADERS before it reads the RST_STREAM that came in the same read, so only then is a rapid reset visible, and a
 * stream already reset is neither routed nor forwarded. HTTP/1.1 requests on the same listener go straight through.
 */
export function skipResetStreams(handler: Handler): Handler {
  return (req, res) => {
    const stream = (req as unknown as { stream?: http2.Http2Stream }).stream;
    if (!stream) return handler(req, res);
    setImmediate(() => {
      if (!stream.closed && !stream.destroyed) handler(req, res);
    });
  };
}
