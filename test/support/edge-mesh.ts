// An in-process mesh for edge tests: per service a recording app (it keeps every request it received, and
// echoes WebSocket messages) behind its own sidecar, an edge in front, all on one MemoryStore with static
// endpoints; plus raw-socket helpers that send bytes exactly as written and read until the server closes.
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { MemoryStore } from '../../core/store/memory-store.js';
import { NO_ENDPOINTS } from '../../core/upstream/endpoints.js';
import type { MeshConfig, RouteConfig } from '../../core/config/schema.js';
import { publishSnapshot } from '../../registry/publish.js';
import { startSidecar, type SidecarNode } from '../../sidecar/main.js';
import { startEdge, type EdgeNode, type EdgeOptions } from '../../edge/main.js';
import { SigningKeys } from '../../authz-svc/signing-keys.js';
import { freePort } from './free-port.js';

export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The whole body arrived. */
  complete: boolean;
}

export interface RecordingApp {
  name: string;
  port: number;
  received: Received[];
  close(): Promise<void>;
}

export async function startRecordingApp(name: string): Promise<RecordingApp> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    // Recorded when the head arrives: a request cut mid-body still counts as received (with `complete` false).
    const record: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '', complete: false };
    received.push(record);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      record.body = body;
      record.complete = true;
      const out = JSON.stringify({ app: name, url: req.url, bytes: body.length });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '', complete: true });
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data, binary) => ws.send(binary ? data : `${name}:${data}`)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    name,
    port: (server.address() as net.AddressInfo).port,
    received,
    async close() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const TEST_ISSUER = 'https://issuer.test';

export interface EdgeMesh {
  store: MemoryStore;
  edge: EdgeNode;
  apps: Record<string, RecordingApp>;
  sidecars: Record<string, SidecarNode>;
  stateDir: string;
  /** A signed token from the test issuer (only when started with `auth: true`). */
  token(scope?: string): Promise<string>;
  /** Start another edge on the same store (e.g. for session resumption across nodes). */
  addEdge(options?: Partial<EdgeOptions>): Promise<EdgeNode>;
  close(): Promise<void>;
}

export interface EdgeMeshOptions {
  services: string[];
  routes: RouteConfig[];
  edge?: Partial<EdgeOptions>;
  /** Publish signing keys for TEST_ISSUER so routes with `auth` can be called. */
  auth?: boolean;
  /** Services whose app is the caller's own server on this port (no recording app is started for them). */
  appPorts?: Record<string, number>;
}

export async function startEdgeMesh(o: EdgeMeshOptions): Promise<EdgeMesh> {
  const store = new MemoryStore();
  const stateDir = await mkdtemp(join(tmpdir(), 'meshgate-edge-'));
  const apps: Record<string, RecordingApp> = {};
  const ports: Record<string, number> = {};
  for (const name of o.services) {
    if (o.appPorts?.[name] === undefined) apps[name] = await startRecordingApp(name);
    ports[name] = await freePort();
  }
  const config = {
    apiVersion: 'meshgate/v1',
    ...(o.auth && { issuers: [{ issuer: TEST_ISSUER }] }),
    services: o.services.map((name) => ({ name, endpoints: [`127.0.0.1:${ports[name]}`] })),
    routes: o.routes,
  } as MeshConfig;
  await publishSnapshot(store, config, { author: 'test', allowRemovals: true });
  const keys = o.auth ? await SigningKeys.create(store, { issuer: TEST_ISSUER }) : undefined;
  const sidecars: Record<string, SidecarNode> = {};
  for (const name of o.services) {
    sidecars[name] = await startSidecar({
      store,
      endpoints: NO_ENDPOINTS,
      service: name,
      app: `127.0.0.1:${o.appPorts?.[name] ?? apps[name].port}`,
      inboundPort: ports[name],
      outboundPort: 0,
      adminPort: 0,
      stateDir,
      graceMs: 200,
    });
  }
  const edges: EdgeNode[] = [];
  const addEdge = async (extra: Partial<EdgeOptions> = {}) => {
    const edge = await startEdge({ store, endpoints: NO_ENDPOINTS, httpPort: 0, httpsPort: null, adminPort: 0, stateDir, graceMs: 200, ...o.edge, ...extra });
    edges.push(edge);
    return edge;
  };
  const edge = await addEdge();
  return {
    store,
    edge,
    apps,
    sidecars,
    stateDir,
    addEdge,
    async token(scope) {
      if (!keys) throw new Error('started without auth');
      return keys.issue({ sub: 'tester', scope, ttlSeconds: 300 });
    },
    async close() {
      for (const e of edges) await e.close();
      for (const s of Object.values(sidecars)) await s.close();
      for (const a of Object.values(apps)) await a.close();
      await keys?.close();
      await store.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

export interface RawAnswer {
  /** Everything the server sent. */
  text: string;
  /** First line's status code (0 when nothing came back). */
  status: number;
  /** The server closed the connection (within the bound). */
  closed: boolean;
}

/** Send `bytes` as written on a fresh connection; collect the answer until the server closes or `boundMs`. */
export async function rawExchange(port: number, bytes: string | Buffer, o: { boundMs?: number; tls?: tls.ConnectionOptions } = {}): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = o.tls ? tls.connect({ port, host: '127.0.0.1', ...o.tls }) : net.connect(port, '127.0.0.1');
    let text = '';
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ text, status: m ? Number(m[1]) : 0, closed });
    };
    const timer = setTimeout(() => done(false), o.boundMs ?? 3_000);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('close', () => done(true));
    socket.on('error', () => undefined);
    socket.once(o.tls ? 'secureConnect' : 'connect', () => socket.write(bytes));
  });
}

/** The body of a raw HTTP/1.1 answer (after the head). */
export function bodyOf(answer: RawAnswer): string {
  const i = answer.text.indexOf('\r\n\r\n');
  return i < 0 ? '' : answer.text.slice(i + 4);
}
