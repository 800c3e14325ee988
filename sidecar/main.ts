// The sidecar node: inbound listener (auth, quota, transforms → local app), outbound listener (the app's
// door to other services), admin, and its endpoint registration.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { Engine } from '../core/pipeline/engine.js';
import { createRequestHandler } from '../core/pipeline/listener.js';
import { NodeRuntime } from '../core/node/runtime.js';
import { DEFAULT_DRAIN_DELAY_MS } from '../core/node/drain-delay-option.js';
import { DualProtocolServer, listen, serverOptions } from '../core/http/serve.js';
import { Tunnels, createUpgradeHandler } from '../core/http/upgrade-tunnel.js';
import { guardHttp2 } from '../core/http/http2-flood-guard.js';
import { PoolSet, poolUpstream } from '../core/upstream/pool.js';
import { compose, type Upstream } from '../core/upstream/upstream.js';
import { H2Sessions } from '../core/upstream/h2-sessions.js';
import { h2Upstream } from '../core/upstream/h2-upstream.js';
import { byProtocol } from '../core/upstream/by-protocol.js';
import { balance } from '../core/upstream/balance.js';
import { traceTries } from '../core/upstream/trace-try.js';
import { BreakerSet, circuitBreaker } from '../core/upstream/breaker.js';
import { retry } from '../core/upstream/retry.js';
import { RetryBudgets } from '../core/upstream/retry-budget.js';
import { OutlierDetector, outlierDetection } from '../core/upstream/outlier.js';
import { HealthChecks } from '../core/upstream/health-check.js';
import { poolLimit } from '../core/upstream/pool-limit.js';
import { deadline } from '../core/upstream/deadline.js';
import type { EndpointSource } from '../core/upstream/endpoints.js';
import type { Store } from '../core/store/store.js';
import { accessLogger, logger } from '../core/telemetry/log.js';
import { startSidecarAuth } from '../core/auth/sidecar-auth.js';
import { createQuotaRuntime } from '../core/quota/quota-runtime.js';
import type { Introspector } from '../core/auth/introspection.js';
import { IntrospectionClient } from '../core/auth/introspection-client.js';
import { INBOUND_CHAIN } from './inbound.js';
import { OUTBOUND_CHAIN } from './outbound.js';
import type { InboundDeps, OutboundDeps } from './deps.js';
import type { TrustedProxies } from '../core/http/trusted-proxies.js';

export interface Registration {
  deregister(): Promise<void>;
}

export interface SidecarOptions {
  store: Store;
  endpoints: EndpointSource;
  service: string;
  /** host:port of the local app. */
  app: string;
  nodeId?: string;
  host?: string;
  /** Address other nodes reach this sidecar's inbound at (default host:inboundPort). */
  advertise?: string;
  inboundPort: number;
  outboundPort: number;
  adminPort: number;
  stateDir: string;
  introspect?: Introspector;
  /** quota-svc gRPC address (host:port) for global policies. */
  quotaAddress?: string;
  /** authz-svc gRPC address (host:port) for opaque-token introspection. */
  authzAddress?: string;
  /** Peers whose x-meshgate-client-ip is believed, the edges (default: loopback and private networks). */
  trustedPeers?: TrustedProxies;
  /** Store unreachable longer than this → authenticated routes answer 503 auth_unavailable (default 10 s). */
  authStaleAfterMs?: number;
  /** Registers this instance under endpoints/<service>/<id> (leased); deregistered first on close. */
  register?: (service: string, id: string, address: string) => Promise<Registration>;
  graceMs?: number;
  /**
   * After deregistering, keep serving this long before closing the listeners, so every peer's endpoint set drops
   * this instance first (etcd watch propagation) and no request is sent on a socket being closed. Default 1 s
   * when registered, else 0.
   */
  drainDelayMs?: number;
}

export interface SidecarNode {
  nodeId: string;
  inboundPort: number;
  outboundPort: number;
  adminPort: number;
  runtime: NodeRuntime;
  close(): Promise<void>;
}

export async function startSidecar(o: SidecarOptions): Promise<SidecarNode> {
  const log = logger('sidecar');
  const host = o.host ?? '127.0.0.1';
  const nodeId = o.nodeId ?? `${o.service}-${randomUUID().slice(0, 8)}`;
  // Opaque tokens are introspected at authz-svc (short cache); JWTs never leave the process.
  const introspection = !o.introspect && o.authzAddress ? new IntrospectionClient({ address: o.authzAddress }) : undefined;
  // Set once the runtime exists: whether this node serves a route with auth (else its auth state holds no readiness).
  let authenticates = (): boolean => true;
  const auth = await startSidecarAuth(o.store, {
    introspect: o.introspect ?? introspection,
    staleAfterMs: o.authStaleAfterMs,
    authenticates: () => authenticates(),
  }).catch((err: Error) => {
    introspection?.close();
    throw err;
  });
  const quota = createQuotaRuntime({
    service: o.service,
    quotaAddress: o.quotaAddress,
    liveNodes: (service) => Math.max(1, o.endpoints.list(service).length),
  });
  const breakers = new BreakerSet('sidecar-outbound');
  const runtime = new NodeRuntime({
    configDetail: () => ({ breakers: breakers.states() }),
    store: o.store,
    role: 'sidecar',
    nodeId,
    service: o.service,
    host,
    adminPort: o.adminPort,
    lkgPath: join(o.stateDir, `${nodeId}.last-known-good.json`),
    readyDetail: () => ({ auth: auth.status(), quota: quota.readiness() }),
  });
  authenticates = () => runtime.holder.current?.routes.some((r) => r.auth !== undefined && r.backends.some((b) => b.name === o.service)) ?? true;
  const closeClients = async () => {
    await auth.close();
    introspection?.close();
    await quota.close();
  };
  try {
    await runtime.start();
  } catch (err) {
    await closeClients().catch(() => undefined);
    throw err;
  }

  const accessLog = accessLogger();
  const appPools = new PoolSet();
  const appSessions = new H2Sessions();
  const appUpstream: Upstream = compose(
    [
      (next) => (x) => {
        x.upstreamAddress = o.app;
        x.attempts++;
        return next(x);
      },
      poolLimit('sidecar-inbound'), // the service's own pool limits protect its app too: 503 overloaded, no unbounded queue
      deadline(), // the app is told the budget left (x-request-timeout-ms) and the try is cut at the deadline
      traceTries('sidecar-inbound'), // a client span per try, its traceparent sent with it
    ],
    byProtocol(poolUpstream(appPools), h2Upstream(appSessions)), // a gRPC or http2 app is called over HTTP/2 (h2c)
  );
  const inboundDeps: InboundDeps = {
    ...auth.deps,
    quota,
    tier: 'sidecar-inbound',
    accessLog,
    trustedPeers: o.trustedPeers,
    service: o.service,
    appUpstream,
    trustRequestId: true,
  };
  const inboundEngine = new Engine<InboundDeps>('sidecar-inbound', INBOUND_CHAIN, inboundDeps, log);
  inboundEngine.attach(runtime.holder);

  const meshPools = new PoolSet();
  const meshSessions = new H2Sessions();
  const outliers = new OutlierDetector('sidecar-outbound');
  const health = new HealthChecks({ snapshot: () => runtime.holder.current, endpoints: o.endpoints, pools: meshPools });
  const outboundDeps: OutboundDeps = {
    tier: 'sidecar-outbound',
    accessLog,
    trustRequestId: true,
    upstream: compose(
      [
        circuitBreaker(breakers), // a failing service gets 503 breaker_open at once, not more load (opossum, per service)
        retry({ budgets: new RetryBudgets('sidecar-outbound') }), // safe replays only, within the budget, jittered, inside the deadline
        balance({ endpoints: o.endpoints, filters: [outliers, health] }), // P2C-EWMA over the target's usable sidecars; a retry goes elsewhere
        poolLimit('sidecar-outbound'), // a full pool and queue answer 503 overloaded instead of queueing without bound
        outlierDetection(outliers, o.endpoints), // consecutive failures eject that sidecar for a growing interval
        deadline(), // per-try timeout within the remaining budget, told to the next hop in x-request-timeout-ms
        traceTries('sidecar-outbound'), // a client span per try, its traceparent sent with it
      ],
      byProtocol(poolUpstream(meshPools), h2Upstream(meshSessions)), // gRPC and http2 services: HTTP/2 to their sidecars
    ),
  };
  const outboundEngine = new Engine<OutboundDeps>('sidecar-outbound', OUTBOUND_CHAIN, outboundDeps, log);
  outboundEngine.attach(runtime.holder);

  // Both listeners speak HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one port: gRPC hops arrive as HTTP/2.
  const inboundHandler = createRequestHandler({ engine: inboundEngine, holder: runtime.holder, log });
  const outboundHandler = createRequestHandler({ engine: outboundEngine, holder: runtime.holder, log });
  // Each with the edge's limits on both protocols (HTTP/2: streams, header list) and a JSON answer to bad framing.
  const inbound = new DualProtocolServer(http.createServer(serverOptions(), inboundHandler), inboundHandler, log, 'sidecar-inbound');
  const outbound = new DualProtocolServer(http.createServer(serverOptions(), outboundHandler), outboundHandler, log, 'sidecar-outbound');
  // h2c from the mesh is still HTTP/2 from whoever reaches the port: the same rapid-reset guard as the edge.
  guardHttp2('sidecar', inbound.http2);
  guardHttp2('sidecar', outbound.http2);
  runtime.keepAliveUntilDraining(inbound.http1, outbound.http1);
  // WebSocket upgrades on `websocket: true` routes: auth and the rest of the inbound chain run, then a tunnel to the app.
  const tunnels = new Tunnels();
  inbound.http1.on('upgrade', createUpgradeHandler({ engine: inboundEngine, holder: runtime.holder, log, target: () => o.app, tunnels, serve: inboundHandler }));
  let inboundPort = 0;
  let outboundPort = 0;
  let registration: Registration | undefined;
  // Drain order: fail readiness, leave the endpoint set, then stop accepting and finish in-flight. Also what a failed
  // start runs: whatever was started is closed (listeners, endpoint, the node record's lease).
  const stop = async (grace: number, drainDelayMs: number | undefined) => {
    await runtime.drain(drainDelayMs ?? (registration ? DEFAULT_DRAIN_DELAY_MS : 0), () => registration?.deregister());
    await Promise.all([inbound.close(grace), outbound.close(grace), tunnels.drain(grace)]);
    await Promise.all([appPools.close(), meshPools.close(), appSessions.close(), meshSessions.close()]);
    await closeClients();
    await runtime.stop();
  };
  try {
    inboundPort = await listen(inbound.listener, o.inboundPort, host);
    outboundPort = await listen(outbound.listener, o.outboundPort, host);
    log.info({ service: o.service, inboundPort, outboundPort, app: o.app }, 'sidecar listening');
    runtime.markListening();
    // A wildcard bind is not an address anyone can dial: advertise the host name then (compose/k8s DNS).
    const reachable = host === '0.0.0.0' || host === '::' ? hostname() : host;
    const address = o.advertise ?? `${reachable.includes(':') ? `[${reachable}]` : reachable}:${inboundPort}`;
    registration = o.register ? await o.register(o.service, nodeId, address) : undefined;
  } catch (err) {
    await stop(0, 0).catch((closeErr: Error) => log.warn({ err: closeErr.message }, 'closing after a failed start'));
    throw err;
  }

  return {
    nodeId,
    inboundPort,
    outboundPort,
    adminPort: runtime.admin.port,
    runtime,
    close: () => stop(o.graceMs ?? 5_000, o.drainDelayMs),
  };
}
