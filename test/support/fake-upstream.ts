// A fault-injecting upstream for resilience tests: answers like the echo app (which instance, method, path,
// headers) or fails on purpose — 5xx storm, held (slow) answers, a reset mid-response or before it, refused
// connections — and records every request it received so a test can count the load a failure attracted.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FaultMode =
  /** 200 with a JSON description of the request. */
  | 'ok'
  /** Every request answered with `status` (default 503): a 5xx storm. */
  | 'error'
  /** Answers are held until `release()` (or close): a slow upstream, no timers involved. */
  | 'slow'
  /** Headers and part of the body, then the connection is destroyed. */
  | 'reset'
  /** The connection is destroyed as soon as the request head arrives (sent, never answered). */
  | 'reset-before-response'
  /** Not listening: connections are refused (the port stays reserved for a return to service). */
  | 'refuse';

export interface Received {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface FakeUpstream {
  name: string;
  port: number;
  /** host:port */
  address: string;
  mode: FaultMode;
  /** Every request that reached this upstream (in any mode but refuse). */
  received: Received[];
  /** Requests currently held in 'slow' mode. */
  readonly held: number;
  /** Held requests whose caller went away (the connection closed) before they were answered. */
  readonly abandoned: number;
  setMode(mode: FaultMode, options?: { status?: number }): Promise<void>;
  /** Answer every held request (200) now. */
  release(): void;
  /** Resolves when `n` requests are held (event-driven, no polling). */
  waitForHeld(n: number): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeUpstream(name: string, mode: FaultMode = 'ok', options: { status?: number; host?: string } = {}): Promise<FakeUpstream> {
  const host = options.host ?? '127.0.0.1';
  let status = options.status ?? 503;
  const held: http.ServerResponse[] = [];
  let abandoned = 0;
  const heldWaiters: { n: number; resolve: () => void }[] = [];
  const sockets = new Set<Socket>();

  const answer = (req: http.IncomingMessage, res: http.ServerResponse, received: Received, code = 200) => {
    const body = JSON.stringify({ upstream: name, method: received.method, path: received.path, headers: received.headers });
    if (!res.writable) return;
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const received: Received = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() };
      fake.received.push(received);
      switch (fake.mode) {
        case 'ok':
          return answer(req, res, received);
        case 'error':
          return answer(req, res, received, status);
        case 'slow':
          held.push(res);
          res.once('close', () => {
            if (!res.writableFinished) abandoned++;
          });
          (res as http.ServerResponse & { received?: Received }).received = received;
          for (const w of [...heldWaiters]) if (held.length >= w.n) (heldWaiters.splice(heldWaiters.indexOf(w), 1), w.resolve());
          return;
        case 'reset':
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
          res.write('{"partial":');
          setImmediate(() => req.socket.destroy());
          return;
        case 'reset-before-response':
          req.socket.destroy();
          return;
        default:
          req.socket.destroy();
      }
    });
  };

  let server = http.createServer({ keepAliveTimeout: 5_000 }, handler);
  const track = (s: http.Server) => s.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  track(server);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  let listening = true;

  const stopListening = async () => {
    if (!listening) return;
    listening = false;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await closed;
  };
  const startListening = async () => {
    if (listening) return;
    server = http.createServer({ keepAliveTimeout: 5_000 }, handler);
    track(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    listening = true;
  };

  const fake: FakeUpstream = {
    name,
    port,
    address: `${host}:${port}`,
    mode,
    received: [],
    get held() {
      return held.length;
    },
    get abandoned() {
      return abandoned;
    },
    async setMode(next, o = {}) {
      if (o.status !== undefined) status = o.status;
      fake.mode = next;
      if (next === 'refuse') await stopListening();
      else await startListening();
    },
    release() {
      for (const res of held.splice(0)) {
        const received = (res as http.ServerResponse & { received?: Received }).received!;
        answer(res.req, res, received);
      }
    },
    waitForHeld(n) {
      if (held.length >= n) return Promise.resolve();
      return new Promise((resolve) => heldWaiters.push({ n, resolve }));
    },
    async close() {
      held.splice(0);
      await stopListening();
    },
  };
  if (mode === 'refuse') await stopListening();
  return fake;
}
