// gRPC calls that fail on the way to the app, with @grpc/grpc-js at both ends (client ─h2c─▶ edge or sidecar ─h2c─▶
// sidecar ─h2c─▶ app): a message over the route's maxBodySize is RESOURCE_EXHAUSTED at once at the edge and at the
// sidecar inbound (it hung until the deadline and ended DEADLINE_EXCEEDED), and a call that lands on an endpoint
// refusing connections is retried on the other one under the route's retry policy, through the edge and the
// sidecar's outbound (it failed UNAVAILABLE: a gRPC body streams, and streamed bodies were never replayed).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
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
import { freePort } from '../support/free-port.js';
import { loadEcho, startGrpcEchoApp, type EchoReply, type EchoRequest, type GrpcEchoApp } from '../support/grpc-echo-app.js';

let store: MemoryStore;
let stateDir: string;
let app: GrpcEchoApp;
let sidecar: SidecarNode;
let edge: EdgeNode;
let inboundPort: number;
const clients: grpc.Client[] = [];

before(async () => {
  store = new MemoryStore();
  stateDir = await mkdtemp(join(tmpdir(), 'meshgate-grpc-failures-'));
  app = await startGrpcEchoApp();
  inboundPort = await freePort();
  const dead = await freePort(); // nothing listens: every connection is refused
  const config = {
    apiVersion: 'meshgate/v1',
    services: [
      { name: 'echo', endpoints: [`127.0.0.1:${inboundPort}`], protocol: 'grpc' },
      // The same sidecar and a dead endpoint, in turn (at the sidecar inbound, the call takes the route 'echo').
      { name: 'flaky', endpoints: [`127.0.0.1:${dead}`, `127.0.0.1:${inboundPort}`], protocol: 'grpc', loadBalancer: 'round-robin' },
    ],
    routes: [
      {
        name: 'small',
        matches: [{ path: { type: 'PathPrefix', value: '/meshtest.Echo/' }, headers: [{ name: 'x-small', value: '1' }] }],
        backendRefs: [{ name: 'echo' }],
        maxBodySize: 100,
        // Short, so that a call held until the deadline fails this test quickly (by its status, not its time).
        timeouts: { request: '3s' },
      },
      {
        name: 'flaky',
        matches: [{ path: { type: 'PathPrefix', value: '/meshtest.Echo/' }, headers: [{ name: 'x-flaky', value: '1' }] }],
        backendRefs: [{ name: 'flaky' }],
        retry: { attempts: 3, retryOn: ['connect-failure'] },
        timeouts: { request: '10s' },
      },
      {
        name: 'echo',
        matches: [{ path: { type: 'PathPrefix', value: '/meshtest.Echo/' } }],
        backendRefs: [{ name: 'echo' }],
      },
    ],
  } as MeshConfig;
  await publishSnapshot(store, config, { author: 'test', allowRemovals: true });
  sidecar = await startSidecar({
    store,
    endpoints: NO_ENDPOINTS,
    service: 'echo',
    app: `127.0.0.1:${app.port}`,
    inboundPort,
    outboundPort: 0,
    adminPort: 0,
    stateDir,
    graceMs: 200,
  });
  edge = await startEdge({ store, endpoints: NO_ENDPOINTS, httpPort: 0, httpsPort: 0, adminPort: 0, stateDir, graceMs: 200 });
});

after(async () => {
  for (const c of clients) c.close();
  await edge?.close();
  await sidecar?.close();
  await app?.close();
  await store?.close();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

type EchoClient = grpc.Client & Record<string, (...args: unknown[]) => grpc.ClientUnaryCall>;

/** An Echo client over cleartext HTTP/2 (prior knowledge) to a mesh port. */
function echoClient(port: number): EchoClient {
  const { Echo } = loadEcho();
  const client = new Echo(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  clients.push(client);
  return client as unknown as EchoClient;
}

function unary(client: EchoClient, req: EchoRequest, metadata = new grpc.Metadata()): Promise<{ err: grpc.ServiceError | null; reply?: EchoReply }> {
  return new Promise((resolve) => client.Unary(req, metadata, (err: grpc.ServiceError | null, reply?: EchoReply) => resolve({ err, reply })));
}

test('a message over the route\'s maxBodySize is RESOURCE_EXHAUSTED at once, at the edge and at the sidecar inbound', async () => {
  // Before, the body-limit stage's 413 was emitted before the HTTP/2 try listened to its body: the call hung until
  // the route's deadline and ended DEADLINE_EXCEEDED, the app holding a half-received request all that time.
  const small = new grpc.Metadata();
  small.set('x-small', '1');
  for (const [where, port] of [['edge', edge.httpPort], ['sidecar inbound', inboundPort]] as const) {
    const client = echoClient(port);
    const started = app.started;
    const { err } = await unary(client, { text: 'x'.repeat(1_000) }, small);
    assert.equal(err?.code, grpc.status.RESOURCE_EXHAUSTED, `${where}: ${err?.code} ${err?.details}`);
    assert.match(err!.details, /limit of 100 bytes/);
    assert.equal(app.started, started, `${where}: the app never ran the call`);
    // A message within the limit passes on the same route.
    const ok = await unary(client, { text: 'tiny' }, small);
    assert.equal(ok.err, null, `${where}: ${ok.err?.details}`);
    assert.equal(ok.reply!.text, 'echo: tiny');
  }
});

test('a call that lands on an endpoint refusing connections is retried on the other one (edge and sidecar outbound)', async () => {
  // Before, a gRPC body counted as streamed and a streamed body was never replayed: every other call failed
  // UNAVAILABLE "The upstream refused the connection." although the route retries connect failures.
  for (const [where, port] of [['edge', edge.httpPort], ['sidecar outbound', sidecar.outboundPort]] as const) {
    const client = echoClient(port);
    const flaky = new grpc.Metadata();
    flaky.set('x-flaky', '1');
    for (let i = 0; i < 6; i++) {
      const { err, reply } = await unary(client, { text: `call ${i}` }, flaky);
      assert.equal(err, null, `${where}, call ${i}: ${err?.code} ${err?.details}`);
      assert.equal(reply!.text, `echo: call ${i}`, `${where}: the message arrived whole`);
    }
  }
});
