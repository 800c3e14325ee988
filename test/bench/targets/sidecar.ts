// Bench target: one meshgate sidecar (full inbound chain) on an in-memory store with the bench config, a
// signing key published to the store and a token minted for the run. Reports its ports and the token over IPC.
// Usage (a bench child): node --import tsx test/bench/targets/sidecar.ts UPSTREAM_PORT STATE_DIR
import { MemoryStore } from '../../../core/store/memory-store.js';
import { NO_ENDPOINTS } from '../../../core/upstream/endpoints.js';
import { initTracing, shutdownTracing } from '../../../core/telemetry/tracing.js';
import { SigningKeys } from '../../../authz-svc/signing-keys.js';
import { publishSnapshot } from '../../../registry/publish.js';
import { startSidecar } from '../../../sidecar/main.js';
import { BENCH_ISSUER, BENCH_SCOPE, BENCH_SERVICE, benchConfig } from '../bench-config.js';

const [upstreamPort, stateDir] = [Number(process.argv[2]), process.argv[3]];
// MESHGATE_TRACE_SAMPLE_RATIO and OTEL_EXPORTER_OTLP_ENDPOINT come from the runner's environment.
initTracing({ serviceName: 'meshgate-bench-sidecar' });
const store = new MemoryStore();
await publishSnapshot(store, benchConfig(), { author: 'bench', message: 'bench', allowRemovals: true });
const keys = await SigningKeys.create(store, { issuer: BENCH_ISSUER });
const token = await keys.issue({ sub: 'bench-user', scope: BENCH_SCOPE, ttlSeconds: 3600, clientId: 'bench' });
const node = await startSidecar({
  store,
  endpoints: NO_ENDPOINTS,
  service: BENCH_SERVICE,
  app: `127.0.0.1:${upstreamPort}`,
  inboundPort: 0,
  outboundPort: 0,
  adminPort: 0,
  stateDir,
});
process.send?.({ type: 'ready', port: node.inboundPort, adminPort: node.adminPort, token });

process.on('SIGTERM', () => {
  void (async () => {
    await node.close();
    await keys.close();
    await store.close();
    await shutdownTracing();
    process.exit(0);
  })().catch(() => process.exit(1));
});
