// quota-svc as a node: the store (Redis, or memory when no Redis is configured), the gRPC API and the admin listener.
import { startAdmin } from '../core/http/admin-server.js';
import { logger } from '../core/telemetry/log.js';
import { MemoryQuotaStore } from '../core/quota/memory-quota-store.js';
import type { QuotaStore } from '../core/quota/quota-store.js';
import { svcBackendUp } from '../core/quota/quota-metrics.js';
import { RedisQuotaStore } from './redis-quota-store.js';
import { startQuotaGrpc } from './grpc-server.js';

export interface QuotaOptions {
  /** Redis URL (redis:// or rediss://); the in-memory store when unset (embedded mode). */
  redis?: string;
  /** gRPC port (0 picks a free one). */
  grpcPort: number;
  /** Admin HTTP port: /healthz /readyz /metrics /config (0 picks a free one). */
  httpPort: number;
  /** Bind address (default 127.0.0.1). */
  host?: string;
}

export interface QuotaNode {
  grpcPort: number;
  httpPort: number;
  close(): Promise<void>;
}

export async function startQuota(options: QuotaOptions): Promise<QuotaNode> {
  const log = logger('quota-svc');
  const host = options.host ?? '127.0.0.1';
  let store: QuotaStore;
  if (options.redis) {
    const redis = new RedisQuotaStore({ url: options.redis });
    // Start even when Redis is down (sidecars fall back per policy); /readyz says so until it is reachable.
    if (!(await redis.connected(2000))) log.warn({ redis: redactUrl(options.redis) }, 'redis not reachable yet: starting unready');
    store = redis;
  } else {
    store = new MemoryQuotaStore();
    svcBackendUp.set({ backend: 'memory' }, 1);
  }
  // What started is closed again when a later part fails (a taken HTTP port left the gRPC server and Redis open).
  const abandon = async (...parts: { close(): Promise<void> }[]) => {
    for (const part of parts) await part.close().catch(() => {});
  };
  const grpc = await startQuotaGrpc(store, host, options.grpcPort).catch(async (err: unknown) => {
    await abandon(store);
    throw err;
  });
  const admin = await startAdmin({
    host,
    port: options.httpPort,
    role: 'quota',
    ready: () => ({ ready: store.ready(), detail: { backend: store.backend, store: store.ready() ? 'up' : 'down' } }),
    config: () => ({ role: 'quota', backend: store.backend, grpcPort: grpc.port }),
  }).catch(async (err: unknown) => {
    await abandon(grpc, store);
    throw err;
  });
  log.info({ grpcPort: grpc.port, httpPort: admin.port, host, backend: store.backend }, 'quota-svc listening');
  return {
    grpcPort: grpc.port,
    httpPort: admin.port,
    async close() {
      await grpc.close();
      await admin.close();
      await store.close();
    },
  };
}

/** Never log a Redis password. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable url)';
  }
}
