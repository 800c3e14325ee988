// Zero-loss reload with real processes on a real etcd: an edge process and a sidecar process in front of an app.
// Under continuous keep-alive load, 100 applies (two alternating configs) fail no request and close no client
// connection; a WebSocket and a slow streaming response opened before them carry on after. Memory does not grow
// with reloads: each process's RSS after 1,000 more applies (settled by a forced GC) is within 10% of it after the
// first 10 of them. That test runs second, on processes the load has warmed: a fresh process's RSS still grows by
// some 10 MB as it warms up (its JS heap does not), which says nothing about reloads.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Client, request } from 'undici';
import WebSocket from 'ws';
import type { MeshConfig } from '../../core/config/schema.js';
import { NODES_PREFIX, type NodeRecord } from '../../core/config/config-watch.js';
import { EtcdStore } from '../../core/store/etcd-store.js';
import type { Watcher } from '../../core/store/store.js';
import { publishSnapshot } from '../../registry/publish.js';
import { startEtcd, type EtcdProcess } from '../support/start-etcd.js';
import { spawnMeshgate, type MeshProcess } from '../support/spawn-mesh.js';
import { startStreamingApp, type StreamingApp } from '../support/streaming-app.js';
import { waitFor } from '../support/wait-for.js';

const SERVICE = 'app';
const NODES = ['reload-edge', 'reload-sidecar'];
const APPLIES = 100;
const CONNECTIONS = 4;
/** Per connection, below the edge's 10,000 requests per socket (after which it closes the socket on purpose). */
const MAX_REQUESTS_PER_CONNECTION = 9_000;
const LOAD_BOUND_MS = 120_000;
const MEMORY_APPLIES = 1_000;
const MEMORY_BASELINE_APPLIES = 10;
const RSS_READS = 9;
const RSS_READ_INTERVAL_MS = 250;
const GC_HOOK = new URL('../support/gc-on-signal.mjs', import.meta.url).href;

/** Two versions: the api route's response header differs, and `b` has one more (decoy) route; odd applies are `a`. */
function config(variant: 'a' | 'b'): MeshConfig {
  const backendRefs = [{ name: SERVICE }];
  return {
    apiVersion: 'meshgate/v1',
    services: [{ name: SERVICE }],
    routes: [
      {
        name: 'api',
        matches: [{ path: { type: 'PathPrefix', value: '/api' } }],
        backendRefs,
        filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-config', value: variant }] } }],
      },
      { name: 'stream', matches: [{ path: { type: 'PathPrefix', value: '/stream' } }], backendRefs },
      { name: 'ws', matches: [{ path: { type: 'PathPrefix', value: '/ws' } }], backendRefs, websocket: true },
      ...(variant === 'b' ? [{ name: 'decoy', matches: [{ path: { type: 'Exact', value: '/decoy' } }], backendRefs }] : []),
    ],
  } as MeshConfig;
}

let etcd: EtcdProcess;
let store: EtcdStore;
let dir: string;
let app: StreamingApp;
let edge: MeshProcess;
let sidecar: MeshProcess;
let edgePort: number;
let nodes: Watcher;
let applied = 0;
/** Version each node reports under nodes/<id>, and who waits for what. */
const reported = new Map<string, number>();
const waiters = new Set<() => void>();

/** The real apply path: one versioned snapshot, compared and written in one etcd transaction. */
async function apply(): Promise<number> {
  applied++;
  const result = await publishSnapshot(store, config(applied % 2 ? 'a' : 'b'), { author: 'test', message: `reload ${applied}`, allowRemovals: true });
  assert.equal(result.unchanged, false);
  return result.version;
}

/** Resolves when every node's own record says it serves `version` (what `meshgate status --wait` reads). */
function fleetServing(version: number, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!NODES.every((id) => (reported.get(id) ?? 0) >= version)) return;
      clearTimeout(timer);
      waiters.delete(check);
      resolve();
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`fleet not serving version ${version} after ${timeoutMs} ms: ${JSON.stringify([...reported])}`));
    }, timeoutMs);
    waiters.add(check);
    check();
  });
}

/**
 * VmRSS (bytes) of a process after a full GC (the preloaded gc-on-signal hook): the lowest of a few reads over the
 * next 2 s, as V8 and the allocator hand freed pages back to the system a little after the collection.
 */
async function settledRss(p: MeshProcess): Promise<{ rss: number; heapUsed: number }> {
  const done = () => p.lines.filter((l) => l.msg === 'gc done');
  const before = done().length;
  process.kill(p.pid, 'SIGUSR2');
  await waitFor(() => done().length > before, `gc in pid ${p.pid}`);
  let rss = Infinity;
  for (let i = 0; i < RSS_READS; i++) {
    if (i) await delay(RSS_READ_INTERVAL_MS);
    rss = Math.min(rss, 1024 * Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))![1]));
  }
  return { rss, heapUsed: done().at(-1)!.heapUsed as number };
}

function openWebSocket(path: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${edgePort}${path}`);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function echo(ws: WebSocket, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no WebSocket echo within 10 s')), 10_000);
    ws.once('message', (data) => {
      clearTimeout(timer);
      resolve(String(data));
    });
    ws.send(message);
  });
}

const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

before(async () => {
  etcd = await startEtcd();
  store = new EtcdStore({ endpoints: etcd.endpoint, requestTimeoutMs: 30_000 });
  dir = mkdtempSync(join(tmpdir(), 'meshgate-reload-'));
  nodes = await store.watch(NODES_PREFIX, (e) => {
    if (e.type !== 'put') return;
    const record = JSON.parse(e.value) as NodeRecord;
    reported.set(record.id, record.version ?? 0);
    for (const w of [...waiters]) w();
  });
  await apply();
  app = await startStreamingApp(SERVICE);
  const env = {
    MESHGATE_ETCD: etcd.endpoint,
    MESHGATE_STATE_DIR: join(dir, 'state'),
    MESHGATE_HOST: '127.0.0.1',
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc --import=${GC_HOOK}`.trim(),
  };
  sidecar = spawnMeshgate(['sidecar', '--service', SERVICE, '--app', app.address, '--node-id', NODES[1], '--inbound-port', '0', '--outbound-port', '0', '--admin-port', '0'], env);
  await sidecar.waitForLine((l) => l.msg === 'sidecar listening', 60_000);
  edge = spawnMeshgate(['edge', '--node-id', NODES[0], '--http-port', '0', '--no-https', '--admin-port', '0'], env);
  edgePort = Number((await edge.waitForLine((l) => l.msg === 'edge http listening', 60_000)).port);
  // The edge routes once it has discovered the sidecar's endpoint in etcd.
  await waitFor(async () => (await request(`http://127.0.0.1:${edgePort}/api/ready`).then(async (r) => (await r.body.dump(), r.statusCode))) === 200, 'the edge to reach the app');
  await fleetServing(1);
});

after(async () => {
  await edge?.stop();
  await sidecar?.stop();
  await nodes?.close();
  await store?.close();
  await app?.close();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test(`${APPLIES} applies under keep-alive load: no failed request, no client connection closed, a WebSocket and a stream carry on`, async (t) => {
  const failures: string[] = [];
  const served = { a: 0, b: 0 };
  let connects = 0;
  const disconnects: string[] = [];
  const clients = Array.from({ length: CONNECTIONS }, () => {
    const client = new Client(`http://127.0.0.1:${edgePort}`, { keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
    client.on('connect', () => connects++);
    client.on('disconnect', (_origin, _targets, err) => disconnects.push(err?.message ?? 'closed'));
    return client;
  });
  let stop = false;
  t.after(() => {
    stop = true;
    for (const c of clients) void c.destroy();
  });

  // Opened before the first apply, checked after the last.
  const ws = await openWebSocket('/ws/room');
  t.after(() => ws.terminate());
  let wsClosed = false;
  ws.once('close', () => (wsClosed = true));
  assert.equal(await echo(ws, 'before'), `${SERVICE}:before`);
  const streamClient = new Client(`http://127.0.0.1:${edgePort}`);
  t.after(() => void streamClient.destroy());
  const stream = await streamClient.request({ path: '/stream/slow', method: 'GET' });
  assert.equal(stream.statusCode, 200);
  let streamed = '';
  stream.body.setEncoding('utf8').on('data', (c: string) => (streamed += c));
  const streamEnded = new Promise<void>((resolve, reject) => stream.body.once('end', resolve).once('error', reject));
  await waitFor(() => streamed.includes('chunk 1\n'), 'the stream to start');

  let capped = false;
  const deadline = Date.now() + LOAD_BOUND_MS;
  const load = clients.map(async (client, c) => {
    for (let n = 0; !stop; n++) {
      if (n >= MAX_REQUESTS_PER_CONNECTION || Date.now() > deadline) return void (capped = true);
      try {
        const res = await client.request({ path: `/api/${c}/${n}`, method: 'GET' });
        const body = await res.body.text();
        const variant = res.headers['x-config'];
        if (res.statusCode !== 200 || !body.includes(`"app":"${SERVICE}"`)) failures.push(`${res.statusCode} ${body.slice(0, 200)}`);
        else if (variant !== 'a' && variant !== 'b') failures.push(`200 without the route's x-config header (${variant})`);
        else served[variant]++;
      } catch (err) {
        failures.push(`error: ${(err as Error).message}`);
      }
    }
  });
  // Every connection open and in use before the applies start.
  await waitFor(() => connects === CONNECTIONS && served.a >= CONNECTIONS, 'load on every connection');
  const connectsBefore = connects;
  const appConnectionsBefore = app.connections;
  const streamedBefore = streamed.length;

  const firstVersion = applied + 1;
  let version = 0;
  for (let i = 0; i < APPLIES; i++) version = await apply();
  assert.equal(version, firstVersion + APPLIES - 1, 'every apply landed as its own version');
  await fleetServing(version);
  const stillLoaded = !capped;
  const streamedDuring = streamed.length;
  stop = true;
  await Promise.all(load);
  const servedTotal = served.a + served.b;

  app.release();
  await Promise.race([streamEnded, new Promise((_, reject) => setTimeout(() => reject(new Error('stream did not end')), 10_000))]);
  const afterEcho = await echo(ws, 'after');
  const closedDuringLoad = [...disconnects];
  ws.close();
  await Promise.all([...clients, streamClient].map((c) => c.close()));

  const chunks = streamed.split('\n').filter(Boolean);
  t.diagnostic(
    `versions ${firstVersion}..${version}; ${servedTotal} requests (${served.a} a, ${served.b} b); ${connects} client connections; ` +
      `app connections ${appConnectionsBefore} → ${app.connections}; stream ${chunks.length - 1} chunks`,
  );
  assert.deepEqual(failures, [], 'every request answered 200 by the app');
  assert.ok(stillLoaded, 'the load was still running when the last apply was served (not stopped by its bounds)');
  assert.ok(served.b > 0 && served.a > 0, 'requests were served by both config versions');
  assert.equal(connects, connectsBefore, 'no client connection was (re)opened across the reloads');
  assert.deepEqual(closedDuringLoad, [], 'no client connection was closed across the reloads');
  assert.equal(afterEcho, `${SERVICE}:after`);
  assert.equal(wsClosed, false, 'the WebSocket stayed open across the reloads');
  assert.ok(app.connections - appConnectionsBefore <= CONNECTIONS, 'the sidecar did not reconnect to the app per reload');
  assert.ok(streamedDuring > streamedBefore, 'the stream kept flowing over the reload window');
  const n = chunks.length - 1;
  assert.deepEqual(chunks, [...Array.from({ length: n }, (_, i) => `chunk ${i}`), `end ${n}`], 'the stream arrived whole and in order');
});

test(`process RSS after ${MEMORY_APPLIES} applies is within 10% of RSS after the first ${MEMORY_BASELINE_APPLIES}`, async (t) => {
  const procs = { edge, sidecar };
  let baseline: Record<string, { rss: number; heapUsed: number }> = {};
  for (let i = 1; i <= MEMORY_APPLIES; i++) {
    // Each version swapped in by both (their log line: the nodes/ record follows only after a short delay).
    const version = await apply();
    await Promise.all(Object.values(procs).map((p) => p.waitForLine((l) => l.msg === 'snapshot swapped in' && (l.version as number) >= version)));
    // One request per version through edge and sidecar: what a snapshot builds on first use is built.
    const res = await request(`http://127.0.0.1:${edgePort}/api/memory/${i}`);
    await res.body.dump();
    assert.equal(res.statusCode, 200);
    if (i === MEMORY_BASELINE_APPLIES)
      baseline = Object.fromEntries(await Promise.all(Object.entries(procs).map(async ([name, p]) => [name, await settledRss(p)] as const)));
  }
  for (const [name, p] of Object.entries(procs)) {
    const end = await settledRss(p);
    const start = baseline[name];
    t.diagnostic(`${name} (pid ${p.pid}): RSS ${mb(start.rss)} → ${mb(end.rss)} MB, heap used ${mb(start.heapUsed)} → ${mb(end.heapUsed)} MB`);
    assert.ok(end.rss <= start.rss * 1.1, `${name}: RSS ${mb(end.rss)} MB after ${MEMORY_APPLIES} applies, ${mb(start.rss)} MB after ${MEMORY_BASELINE_APPLIES}`);
  }
});
