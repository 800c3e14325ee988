// The edge node: HTTP and HTTPS (h2 + http/1.1 via ALPN) listeners running the edge chain, plus admin;
// SNI certificates reloaded from their files, fleet-shared session tickets, HTTP/2 flood guard, WebSocket tunnels.
import http from 'node:http';
import http2 from 'node:http2';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Engine } from '../core/pipeline/engine.js';
import { createRequestHandler } from '../core/pipeline/listener.js';
import { NodeRuntime } from '../core/node/runtime.js';
import { DEFAULT_LIMITS, DualProtocolServer, SecureConnections, answerClientErrors, applyLimits, http2Limits, limitHttp2Headers, listen, serverOptions, type HttpLimits } from '../core/http/serve.js';
import { Tunnels, createUpgradeHandler } from '../core/http/upgrade-tunnel.js';
import type { NormalizeOptions } from '../core/http/normalize-path.js';
import { MeshError } from '../core/errors.js';
import { PoolSet, poolUpstream } from '../core/upstream/pool.js';
import { compose } from '../core/upstream/upstream.js';
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
import { endpointsOf, type EndpointSource } from '../core/upstream/endpoints.js';
import type { Store } from '../core/store/store.js';
import { accessLogger, logger } from '../core/telemetry/log.js';
import { EDGE_CHAIN } from './chain.js';
import type { EdgeDeps } from './deps.js';
import { TLS_DEFAULTS, developmentCertificate, loadCertificate } from './tls.js';
import { CertificateSet, type CertificateFiles } from './certificates.js';
import { SessionTickets } from './session-tickets.js';
import { guardHttp2, skipResetStreams, type FloodGuardOptions } from '../core/http/http2-flood-guard.js';
import { TrustedProxies } from '../core/http/trusted-proxies.js';

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
  /** Extra certificates chosen by SNI (the names in each certificate's SAN). */
  sniCertificates?: CertificateFiles[];
  /** How often certificate files are polled for changes (default 2 s). */
  certificatePollMs?: number;
  /** Session-ticket key rotation period (default 12 h); keys live in the store at tls/ticket-keys. */
  ticketRotationMs?: number;
  /** Where the development certificate and last-known-good config live. */
  stateDir: string;
  graceMs?: number;
  /**
   * On close, keep accepting and serving this long with /readyz at 503 before closing the listeners, so load
   * balancers and kube-proxy stop sending new connections first (`--drain-delay`; default 0 here).
   */
  drainDelayMs?: number;
  /** Proxies (CIDRs) whose X-Forwarded-For is believed. */
  trustedProxies?: TrustedProxies;
  /** Path normalization policy (merge slashes, encoded slashes). */
  normalize?: NormalizeOptions;
  http2?: FloodGuardOptions;
  /** HTTP/1.1 limits: header size and count, slow-client timeouts, keep-alive (defaults in core/http/serve.ts). */
  limits?: Partial<HttpLimits>;
}

export interface EdgeNode {
  nodeId: string;
  httpPort: number;
  httpsPort: number | null;
  adminPort: number;
  runtime: NodeRuntime;
  /** The TLS certificates (undefined without HTTPS); `reload()` re-reads the files now. */
  certificates: CertificateSet | undefined;
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
  const h2Sessions = new H2Sessions();
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
      traceTries('edge'), // a client span per try, its traceparent sent with it
    ],
    byProtocol(poolUpstream(pools), h2Upstream(h2Sessions)), // gRPC and http2 services: HTTP/2 to the sidecar
  );
  const accessLog = accessLogger();
  const limits: HttpLimits = { ...DEFAULT_LIMITS, ...o.limits };
  const base = {
    tier: 'edge',
    accessLog,
    upstream,
    trustRequestId: true,
    trustedProxies: o.trustedProxies,
    normalize: o.normalize,
    maxHeaderCount: limits.maxHeaderCount,
  };
  // WebSocket: the chain up to forward (route, auth headers, X-Forwarded-*), then a raw tunnel to one sidecar.
  const tunnelTarget = (x: { snapshot: Parameters<typeof endpointsOf>[0]; service: string }) => {
    const list = endpointsOf(x.snapshot, o.endpoints, x.service);
    return list.length ? list[Math.floor(Math.random() * list.length)] : new MeshError('no_endpoint');
  };
  const plainEngine = new Engine<EdgeDeps>('edge', EDGE_CHAIN, { ...base, secure: false }, log);
  plainEngine.attach(runtime.holder);

  const plainHandler = createRequestHandler({ engine: plainEngine, holder: runtime.holder, log });
  const server = http.createServer(serverOptions(limits), plainHandler);
  applyLimits(server, limits);
  runtime.keepAliveUntilDraining(server);
  const tunnels = new Tunnels();
  server.on('upgrade', createUpgradeHandler({ engine: plainEngine, holder: runtime.holder, log, target: tunnelTarget, tunnels, serve: plainHandler }));
  // The plain port also takes cleartext HTTP/2 with prior knowledge (gRPC clients inside the network), with the
  // TLS port's HTTP/2 limits and flood guard; the first bytes of a connection decide. Bad framing gets a JSON answer.
  const plain = new DualProtocolServer(server, skipResetStreams(plainHandler), log, 'edge', limits);
  guardHttp2('edge', plain.http2, o.http2);

  let tlsServer: http2.Http2SecureServer | undefined;
  let tlsConnections: SecureConnections | undefined;
  let httpPort = 0;
  let httpsPort: number | null = null;
  let certificates: CertificateSet | undefined;
  let tickets: SessionTickets | undefined;
  // Drain order: fail readiness and keep serving through the drain delay, then stop accepting and finish in-flight.
  // Also what a failed start runs: whatever was started is closed (listeners, watches, the node record's lease).
  const stop = async (grace: number, drainDelayMs: number) => {
    await runtime.drain(drainDelayMs);
    certificates?.close();
    await tickets?.close();
    await Promise.all([plain.close(grace), tlsConnections?.close(grace), tunnels.drain(grace)]);
    await Promise.all([pools.close(), h2Sessions.close()]);
    await runtime.stop();
  };
  try {
    httpPort = await listen(plain.listener, o.httpPort, host);
    log.info({ port: httpPort, host, protocols: ['http/1.1', 'h2c'] }, 'edge http listening');
    if (o.httpsPort !== null) httpsPort = await startHttps(o.httpsPort);
  } catch (err) {
    await stop(0, 0).catch((closeErr: Error) => log.warn({ err: closeErr.message }, 'closing after a failed start'));
    throw err;
  }
  runtime.markListening();

  async function startHttps(port: number): Promise<number> {
    const files = o.certFile && o.keyFile ? { certFile: o.certFile, keyFile: o.keyFile } : undefined;
    const pair = files ? await loadCertificate(files.certFile, files.keyFile) : await developmentCertificate(o.stateDir);
    certificates = await CertificateSet.load({ defaultPair: pair, defaultFiles: files, sni: o.sniCertificates, pollIntervalMs: o.certificatePollMs });
    const secureEngine = new Engine<EdgeDeps>('edge', EDGE_CHAIN, { ...base, secure: true }, log);
    secureEngine.attach(runtime.holder);
    // A stream the client already reset (rapid reset) is not worth routing, let alone forwarding upstream.
    const handler = skipResetStreams(createRequestHandler({ engine: secureEngine, holder: runtime.holder, log }));
    // The header limit for HTTP/2 requests, including the first ones of a session (see limitHttp2Headers).
    const limited = limitHttp2Headers(handler, limits, log, 'edge');
    tlsServer = http2.createSecureServer(
      {
        ...TLS_DEFAULTS,
        ...certificates.serverOptions(),
        allowHTTP1: true,
        ALPNProtocols: ['h2', 'http/1.1'],
        ...http2Limits(limits),
        // A client that connects and never finishes its handshake (or sends nothing) is dropped with the head timeout,
        // as on the plain port (node's default, 120 s, let one hold a socket and, at shutdown, the process).
        handshakeTimeout: limits.headersTimeoutMs,
      },
      limited as never,
    );
    answerClientErrors(tlsServer, log, 'edge');
    // The HTTP/1.1 side of the TLS listener has the same slow-client bounds as the plain one, checked as often (with
    // node's default check every 30 s, a slow head got its 408 after 22-28 s instead of 10 s).
    const h1 = serverOptions(limits);
    Object.assign(tlsServer, {
      headersTimeout: h1.headersTimeout,
      requestTimeout: h1.requestTimeout,
      keepAliveTimeout: h1.keepAliveTimeout,
      connectionsCheckingInterval: h1.connectionsCheckingInterval,
    });
    guardHttp2('edge', tlsServer, o.http2);
    runtime.keepAliveUntilDraining(tlsServer);
    tlsConnections = new SecureConnections(tlsServer, limits);
    tlsServer.on('upgrade', createUpgradeHandler({ engine: secureEngine, holder: runtime.holder, log, target: tunnelTarget, tunnels, serve: handler }));
    certificates.attach(tlsServer);
    await certificates.watchStore(o.store);
    const certs = certificates;
    tickets = await SessionTickets.start({ store: o.store, apply: (key) => certs.setTicketKeys(key), periodMs: o.ticketRotationMs });
    const bound = await listen(tlsServer, port, host);
    log.info({ port: bound, host }, 'edge https listening (h2, http/1.1)');
    return bound;
  }

  return {
    nodeId,
    httpPort,
    httpsPort,
    adminPort: runtime.admin.port,
    runtime,
    certificates,
    close: () => stop(o.graceMs ?? 5_000, o.drainDelayMs ?? 0),
  };
}
