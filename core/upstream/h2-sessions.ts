// HTTP/2 sessions to upstream origins, one per origin, cleartext with prior knowledge (RFC 9113 §3.3): every
// stream to that origin is multiplexed on it. A session that closes, errors or receives GOAWAY is forgotten, so
// the next request opens a new one while the old one finishes its streams. A PING keepalive finds a peer that
// vanished without a FIN (a crashed host, a dropped NAT entry): no ack in time, the session is destroyed.
import http2, { type ClientHttp2Session } from 'node:http2';
import { parseDuration } from '../config/duration.js';
import type { ServiceConfig } from '../config/schema.js';
import { UpstreamFailure } from './upstream.js';

export interface H2SessionOptions {
  connectTimeoutMs?: number;
  /** How long close() lets open streams finish before cutting the sessions. */
  closeGraceMs?: number;
  /** A PING every this often on each session (default 30 s; 0 = none). */
  pingIntervalMs?: number;
  /** No PING ack within this long: the peer is gone, the session is destroyed (default 10 s). */
  pingTimeoutMs?: number;
}

export class H2Sessions {
  /** Connected (or connecting) sessions by host:port; the promise settles once the connection is up or failed. */
  private readonly sessions = new Map<string, Promise<ClientHttp2Session>>();
  private readonly open = new Set<ClientHttp2Session>();

  constructor(private readonly options: H2SessionOptions = {}) {}

  /** A connected session to `address`; a failure to connect rejects as a `connect` UpstreamFailure (safe to retry). */
  get(address: string, service?: ServiceConfig): Promise<ClientHttp2Session> {
    let session = this.sessions.get(address);
    if (!session) {
      const connect = service?.timeouts?.connect;
      session = this.connect(address, connect ? parseDuration(connect) : (this.options.connectTimeoutMs ?? 2_000));
      this.sessions.set(address, session);
    }
    return session;
  }

  private connect(address: string, timeoutMs: number): Promise<ClientHttp2Session> {
    const session = http2.connect(`http://${address}`, { settings: { enablePush: false } });
    this.open.add(session);
    const forget = () => {
      if (this.sessions.get(address) === ready) this.sessions.delete(address);
    };
    const ready = new Promise<ClientHttp2Session>((resolve, reject) => {
      // Until 'connect' nothing was sent: whatever cut it (refused, timed out, reset) any method may be retried.
      const refused = () => reject(new UpstreamFailure('upstream_failed', 'The upstream refused the connection.', 'connect', address));
      const timer = setTimeout(() => session.destroy(), timeoutMs);
      session.once('connect', () => {
        clearTimeout(timer);
        this.keepAlive(session, forget);
        resolve(session);
      });
      // The streams on it see the error themselves; here it only ends the session's life in the map.
      session.on('error', forget);
      session.once('close', () => {
        clearTimeout(timer);
        forget();
        this.open.delete(session);
        refused();
      });
    });
    // A draining peer: new streams go to a new session, the ones in flight finish on this one.
    session.once('goaway', forget);
    ready.catch(() => undefined);
    return ready;
  }

  /** `forget`: a session found dead leaves the map at once; its 'close' (and 'error') come a tick later. */
  private keepAlive(session: ClientHttp2Session, forget: () => void): void {
    const every = this.options.pingIntervalMs ?? 30_000;
    if (every <= 0) return;
    const timeoutMs = this.options.pingTimeoutMs ?? 10_000;
    const interval = setInterval(() => {
      if (session.closed || session.destroyed) return;
      const deadline = setTimeout(() => {
        forget();
        session.destroy(new Error('HTTP/2 PING not acknowledged: the upstream is gone'));
      }, timeoutMs);
      deadline.unref();
      // The callback runs on the ack, or with an error when the session went away first.
      session.ping(() => clearTimeout(deadline));
    }, every);
    interval.unref();
    session.once('close', () => clearInterval(interval));
  }

  async close(): Promise<void> {
    this.sessions.clear();
    const grace = this.options.closeGraceMs ?? 1_000;
    await Promise.all(
      [...this.open].map(
        (session) =>
          new Promise<void>((resolve) => {
            // Also when a GOAWAY already closed it: close(callback) would then never call back.
            const timer = setTimeout(() => session.destroy(), grace);
            timer.unref();
            session.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            session.close();
          }),
      ),
    );
    this.open.clear();
  }
}
