// The edge node: HTTP and HTTPS (h2 + http/1.1 via ALPN) listeners running the edge chain, plus admin.
import http from 'node:http';
import http2 from 'node:http2';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Engine } from '../core/pipeline/engine.js';
import { createRequestHandler } from '../core/pipeline/listener.js';
import { NodeRuntime } from '../core/node/runtime.js';
import { answerClientErrors, closeGracefully, listen, serverOptions } from '../core/http/serve.js';
import { PoolSet, poolUpstream } from '../core/upstream/pool.js';
import { compose } from '../core/upstream/upstream.js';
import { balance } from '../core/upstream/balance.js';
import { BreakerSet, circuitBreaker } from '../core/upstream/breaker.js';
import { retry } from '../core/upstream/retry.js';
import { RetryBudgets } from '../core/upstream/retry-budget.js';
import { OutlierDetector, outlierDetection } from '../core/upstream/outlier.js';
import { HealthChecks } from '../core/upstream/health-check.js';
import { poolLimit } from '../core/upstream/pool-limit.js';
import { deadline } from '../core/upstream/deadline.js';
import type { EndpointSource } from '../core/upstream/endpoints.js';
import type { Store } from '../core/store/store.js';
import { logger } from '../core/telemetry/log.js';
import { EDGE_CHAIN } from './chain.js';
import type { EdgeDeps } from './deps.js';
import { TLS_DEFAULTS, developmentCertificate, loadCertificate } from './tls.js';

export interface EdgeOptions {
  store: Store;
  endpoints: EndpointSource;
  nodeId?: string;
  host?: string;
  httpPort: number;
  /** null disables HTTPS. */
  httpsPort: number | null;
  adminPort: number;
  certFile?: string;
  keyFile?: string;
  /** Where the development certificate and last-known-good config live. */
  stateDir: string;
  graceMs?: number;
}

export interface EdgeNode {
  nodeId: string;
  httpPort: number;
  httpsPort: number | null;
  adminPort: number;
  runtime: NodeRuntime;
  close(): Promise<void>;
}

export async function startEdge(o: EdgeOptions): Promise<EdgeNode> {
  const log = logger('edge');
  const host = o.host ?? '127.0.0.1';
  const nodeId = o.nodeId ?? `edge-${randomUUID().slice(0, 8)}`;
  const breakers = new BreakerSet('edge');
  const runtime = new NodeRuntime({
    configDetail: () => ({ breakers: breakers.states() }),
    store: o.store,
    role: 'edge',
    nodeId,
    host,
    adminPort: o.adminPort,
    lkgPath: join(o.stateDir, `${nodeId}.last-known-good.json`),
  });
  await runtime.start();

  const pools = new PoolSet();
  const outliers = new OutlierDetector('edge');
  const health = new HealthChecks({ snapshot: () => runtime.holder.current, endpoints: o.endpoints, pools });
  const upstream = compose(
    [
      circuitBreaker(breakers), // a failing service gets 503 breaker_open at once, not more load (opossum, per service)
      retry({ budgets: new RetryBudgets('edge') }), // safe replays only, within the service's budget, jittered, inside the deadline
      balance({ endpoints: o.endpoints, filters: [outliers, health] }), // P2C-EWMA over usable sidecars; a retry goes elsewhere
      poolLimit('edge'), // a full pool and queue answer 503 overloaded instead of queueing without bound
      outlierDetection(outliers, o.endpoints), // consecutive failures eject that sidecar for a growing interval
      deadline(), // per-try timeout within the remaining budget, told to the next hop in x-request-timeout-ms
    ],
    poolUpstream(pools),
  );
  const accessLog = logger('access');
  const base = { tier: 'edge', accessLog, upstream, trustRequestId: true };
  const plainEngine = new Engine<EdgeDeps>('edge', EDGE_CHAIN, { ...base, secure: false }, log);
  plainEngine.attach(runtime.holder);

  const server = http.createServer(serverOptions(), createRequestHandler({ engine: plainEngine, holder: runtime.holder, log }));
  answerClientErrors(server, log);
  const httpPort = await listen(server, o.httpPort, host);
  log.info({ port: httpPort, host }, 'edge http listening');

  let tlsServer: http2.Http2SecureServer | undefined;
  let httpsPort: number | null = null;
  if (o.httpsPort !== null) {
    const pair = o.certFile && o.keyFile ? await loadCertificate(o.certFile, o.keyFile) : await developmentCertificate(o.stateDir);
    const secureEngine = new Engine<EdgeDeps>('edge', EDGE_CHAIN, { ...base, secure: true }, log);
    secureEngine.attach(runtime.holder);
    const handler = createRequestHandler({ engine: secureEngine, holder: runtime.holder, log });
    tlsServer = http2.createSecureServer(
      {
        ...TLS_DEFAULTS,
        ...pair,
        allowHTTP1: true,
        ALPNProtocols: ['h2', 'http/1.1'],
        maxSessionMemory: 10,
        settings: { maxConcurrentStreams: 128, maxHeaderListSize: 16 * 1024 },
        maxHeaderListPairs: 128,
      },
      handler as never,
    );
    answerClientErrors(tlsServer, log);
    httpsPort = await listen(tlsServer, o.httpsPort, host);
    log.info({ port: httpsPort, host }, 'edge https listening (h2, http/1.1)');
  }
  runtime.markListening();

  return {
    nodeId,
    httpPort,
    httpsPort,
    adminPort: runtime.admin.port,
    runtime,
    async close() {
      runtime.draining = true;
      await Promise.all([
        closeGracefully(server, o.graceMs ?? 5_000),
        tlsServer && new Promise<void>((resolve) => tlsServer!.close(() => resolve())),
      ]);
      await pools.close();
      await runtime.stop();
    },
  };
}
