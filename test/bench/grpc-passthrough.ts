// gRPC pass-through benchmark (`node --import tsx test/bench/grpc-passthrough.ts`): the same @grpc/grpc-js calls
// direct to the app and through edge (TLS, h2) → sidecar (h2c) → app, in one process on loopback. Unary latency
// (sequential), unary throughput (16 concurrent), and a 32 MB server stream; printed with the mesh/direct ratio.
// Bounded: fixed call counts. Numbers on a shared machine are noisy: compare ratios, and the load average shown.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MemoryStore } from '../../core/store/memory-store.js';
import { NO_ENDPOINTS } from '../../core/upstream/endpoints.js';
import type { MeshConfig } from '../../core/config/schema.js';
import { publishSnapshot } from '../../registry/publish.js';
import { startSidecar } from '../../sidecar/main.js';
import { startEdge } from '../../edge/main.js';
import { freePort } from '../support/free-port.js';
import { makeCertificate } from '../support/test-certificates.js';
import { loadEcho, startGrpcEchoApp, type EchoReply } from '../support/grpc-echo-app.js';

const SEQUENTIAL = 2_000;
const CONCURRENT = 4_000;
const STREAM_MESSAGES = 2_000;
const MESSAGE_BYTES = 16 * 1024;

interface Result {
  msPerCall: number;
  callsPerSecond: number;
  streamMBps: number;
}

type EchoClient = grpc.Client & Record<string, (...args: unknown[]) => grpc.ClientReadableStream<EchoReply>>;

function unary(client: EchoClient): Promise<void> {
  return new Promise((resolve, reject) => client.Unary({ text: 'x' }, (err: unknown) => (err ? reject(err) : resolve())));
}

async function measure(client: EchoClient): Promise<Result> {
  for (let i = 0; i < 200; i++) await unary(client); // warm-up
  let t = performance.now();
  for (let i = 0; i < SEQUENTIAL; i++) await unary(client);
  const msPerCall = (performance.now() - t) / SEQUENTIAL;
  t = performance.now();
  let started = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (started++ < CONCURRENT) await unary(client);
    }),
  );
  const callsPerSecond = CONCURRENT / ((performance.now() - t) / 1_000);
  t = performance.now();
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    const stream = client.ServerStream({ text: 'y'.repeat(MESSAGE_BYTES), count: STREAM_MESSAGES });
    stream.on('data', (r: EchoReply) => (bytes += r.text.length));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  return { msPerCall, callsPerSecond, streamMBps: bytes / 1e6 / ((performance.now() - t) / 1_000) };
}

const store = new MemoryStore();
const dir = await mkdtemp(join(tmpdir(), 'meshgate-grpc-bench-'));
const cert = await makeCertificate(dir, 'edge', 'localhost', 'DNS:localhost,IP:127.0.0.1');
const app = await startGrpcEchoApp();
const inboundPort = await freePort();
const config = {
  apiVersion: 'meshgate/v1',
  services: [{ name: 'echo', endpoints: [`127.0.0.1:${inboundPort}`], protocol: 'grpc' }],
  routes: [{ name: 'echo', matches: [{ path: { type: 'PathPrefix', value: '/meshtest.Echo/' } }], backendRefs: [{ name: 'echo' }] }],
} as MeshConfig;
await publishSnapshot(store, config, { author: 'bench', allowRemovals: true });
const sidecar = await startSidecar({ store, endpoints: NO_ENDPOINTS, service: 'echo', app: `127.0.0.1:${app.port}`, inboundPort, outboundPort: 0, adminPort: 0, stateDir: dir, graceMs: 200 });
const edge = await startEdge({ store, endpoints: NO_ENDPOINTS, httpPort: 0, httpsPort: 0, adminPort: 0, stateDir: dir, graceMs: 200, certFile: cert.certFile, keyFile: cert.keyFile });
const { Echo } = loadEcho();
const options = { 'grpc.ssl_target_name_override': 'localhost', 'grpc.max_receive_message_length': 64 << 20 };
const direct = new Echo(`127.0.0.1:${app.port}`, grpc.credentials.createInsecure(), options) as unknown as EchoClient;
const mesh = new Echo(`127.0.0.1:${edge.httpsPort}`, grpc.credentials.createSsl(readFileSync(cert.certFile)), options) as unknown as EchoClient;
try {
  const d = await measure(direct);
  const m = await measure(mesh);
  const row = (name: string, r: Result) =>
    `${name.padEnd(7)} ${r.msPerCall.toFixed(3).padStart(8)} ms/call ${r.callsPerSecond.toFixed(0).padStart(7)} calls/s ${r.streamMBps.toFixed(0).padStart(5)} MB/s`;
  console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(row('direct', d));
  console.log(row('mesh', m));
  console.log(`ratio    ${(m.msPerCall / d.msPerCall).toFixed(2).padStart(8)} ×       ${(m.callsPerSecond / d.callsPerSecond).toFixed(2).padStart(7)} ×        ${(m.streamMBps / d.streamMBps).toFixed(2).padStart(5)} ×`);
} finally {
  direct.close();
  mesh.close();
  await edge.close();
  await sidecar.close();
  await app.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
}
