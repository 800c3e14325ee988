// Bench target: one meshgate edge (plain HTTP listener) routing the bench route to the bench sidecar, given as a
// static endpoint in its own in-memory store's config. Reports its port over IPC.
// Usage (a bench child): node --import tsx test/bench/targets/edge.ts SIDECAR_PORT STATE_DIR
import { MemoryStore } from '../../../core/store/memory-store.js';
import { NO_ENDPOINTS } from '../../../core/upstream/endpoints.js';
import { initTracing, shutdownTracing } from '../../../core/telemetry/tracing.js';
import { publishSnapshot } from '../../../registry/publish.js';
import { startEdge } from '../../../edge/main.js';
import { benchConfig } from '../bench-config.js';

const [sidecarPort, stateDir] = [Number(process.argv[2]), process.argv[3]];
initTracing({ serviceName: 'meshgate-bench-edge' });
const store = new MemoryStore();
await publishSnapshot(store, benchConfig(`127.0.0.1:${sidecarPort}`), { author: 'bench', message: 'bench', allowRemovals: true });
const node = await startEdge({ store, endpoints: NO_ENDPOINTS, httpPort: 0, httpsPort: null, adminPort: 0, stateDir });
process.send?.({ type: 'ready', port: node.httpPort, adminPort: node.adminPort });

process.on('SIGTERM', () => {
  void (async () => {
    await node.close();
    await store.close();
    await shutdownTracing();
    process.exit(0);
  })().catch(() => process.exit(1));
});
