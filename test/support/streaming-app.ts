// An app for long-lived-connection tests: small JSON answers, a slow chunked stream that keeps going until
// released (bounded), WebSocket echo, and a count of the TCP connections it accepted.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';

export interface StreamingApp {
  port: number;
  /** host:port */
  address: string;
  /** TCP connections accepted so far (keep-alive reuse does not add to it). */
  readonly connections: number;
  /** End every open stream after its next chunk. */
  release(): void;
  close(): Promise<void>;
}

export interface StreamingAppOptions {
  /** Time between stream chunks (default 50 ms). */
  chunkIntervalMs?: number;
  /** A stream ends by itself after this many chunks, released or not (default 2,400: 2 minutes at 50 ms). */
  maxChunks?: number;
}

/** `GET /stream/…` answers `chunk <n>\n` lines then `end <n>\n`; any other path a small JSON body; upgrades echo. */
export async function startStreamingApp(name: string, o: StreamingAppOptions = {}): Promise<StreamingApp> {
  const interval = o.chunkIntervalMs ?? 50;
  const maxChunks = o.maxChunks ?? 2_400;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let released = false;
  let connections = 0;

  const stream = (res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    let n = 0;
    const timer = setInterval(() => {
      res.write(`chunk ${n++}\n`);
      if (!released && n < maxChunks) return;
      clearInterval(timer);
      timers.delete(timer);
      res.end(`end ${n}\n`);
    }, interval);
    timers.add(timer);
    res.once('close', () => (clearInterval(timer), timers.delete(timer)));
  };

  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    req.resume();
    req.once('end', () => {
      if (req.url?.startsWith('/stream/')) return stream(res);
      const body = JSON.stringify({ app: name, url: req.url });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.on('connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data) => ws.send(`${name}:${data}`))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    address: `127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    release() {
      released = true;
    },
    async close() {
      for (const t of timers) clearInterval(t);
      for (const c of wss.clients) c.terminate();
      wss.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
