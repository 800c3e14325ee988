// Micro-benchmarks of the sidecar's hot path, in-process: the cached auth stage, scope authorization, the local
// quota stage, route lookup (a table of 50 routes), the whole synchronous inbound chain up to forward, and the
// access-log stage. Run as a bench child (pinned, stdout to /dev/null); reports µs per request over IPC.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MemoryStore } from '../../core/store/memory-store.js';
import { compileConfig } from '../../core/config/compile.js';
import { Exchange } from '../../core/pipeline/exchange.js';
import { Engine, runChain } from '../../core/pipeline/engine.js';
import type { Stage } from '../../core/pipeline/stage.js';
import { startSidecarAuth } from '../../core/auth/sidecar-auth.js';
import { createQuotaRuntime } from '../../core/quota/quota-runtime.js';
import { accessLogger, logger } from '../../core/telemetry/log.js';
import { SigningKeys } from '../../authz-svc/signing-keys.js';
import { jwtAuth } from '../../sidecar/stages/jwt-auth.js';
import { scopeAuthz } from '../../sidecar/stages/scope-authz.js';
import { quotaLocal } from '../../sidecar/stages/quota-local.js';
import { INBOUND_CHAIN } from '../../sidecar/inbound.js';
import type { InboundDeps } from '../../sidecar/deps.js';
import { BENCH_ISSUER, BENCH_PATH, BENCH_SCOPE, BENCH_SERVICE, benchConfig } from './bench-config.js';

export interface MicroResults {
  /** Cached JWT: hash + LRU hit + revocation check + policy (issuer/audience) — the jwt-auth stage. */
  authCachedUs: number;
  /** Cache miss: full jose verification (ES256), for scale. */
  authMissUs: number;
  scopeAuthzUs: number;
  quotaLocalUs: number;
  /** RouteTable.match over every route (50), the bench route last. */
  routeLookupUs: number;
  /** normalize … header-transform: every synchronous request stage before forward (tracing unsampled). */
  chainSyncUs: number;
  /** access-log response(): metrics + span end + one pino line (to /dev/null). */
  accessLogUs: number;
}

function request(token: string): IncomingMessage {
  const headers = { host: '127.0.0.1:15006', authorization: `Bearer ${token}`, 'user-agent': 'wrk', accept: '*/*' };
  return {
    url: `${BENCH_PATH}?q=1`,
    method: 'GET',
    headers,
    rawHeaders: Object.entries(headers).flat(),
    socket: { remoteAddress: '127.0.0.1' },
    httpVersionMajor: 1,
    httpVersionMinor: 1,
  } as unknown as IncomingMessage;
}

const response = { writableFinished: true, statusCode: 200, headersSent: false } as unknown as ServerResponse;

/**
 * µs per call: best of 5 timed batches after a warm-up batch. Timed in this process's CPU time, not wall time,
 * so a busy machine preempting the batch does not count (GC helper threads do, a little).
 */
function measure(iterations: number, fn: (i: number) => void): number {
  for (let i = 0; i < iterations; i++) fn(i);
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < iterations; i++) fn(i);
    const used = process.cpuUsage(t0);
    best = Math.min(best, (used.user + used.system) / iterations);
  }
  return Math.round(best * 1000) / 1000;
}

function must(v: unknown, what: string): void {
  if (v !== undefined) throw new Error(`${what} refused in the micro-benchmark: ${JSON.stringify(v)}`);
}

export async function runMicro(): Promise<MicroResults> {
  const store = new MemoryStore();
  const keys = await SigningKeys.create(store, { issuer: BENCH_ISSUER });
  const token = await keys.issue({ sub: 'bench-user', scope: BENCH_SCOPE, ttlSeconds: 3600, clientId: 'bench' });
  const auth = await startSidecarAuth(store);
  const quota = createQuotaRuntime({ service: BENCH_SERVICE });
  const snapshot = compileConfig(benchConfig(), { version: 1, digest: 'bench' });
  const route = snapshot.routesByName.get('bench')!;
  const req = request(token);
  const fresh = () => {
    const x = new Exchange(req, response, 'sidecar-inbound');
    x.snapshot = snapshot;
    x.route = route;
    return x;
  };

  const authStage = jwtAuth.build({ route, snapshot, deps: auth.deps })!;
  const x0 = fresh();
  must(await authStage.request!(x0), 'jwt-auth');
  const identity = x0.identity!;
  const x = fresh();
  const authCachedUs = measure(100_000, () => must(authStage.request!(x), 'jwt-auth'));
  // A miss is asynchronous (WebCrypto): sequential awaited verifications, the cache cleared before each.
  let authMissUs = Infinity;
  for (let round = 0; round < 3; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 200; i++) {
      auth.deps.cache.clear();
      must(await authStage.request!(x), 'jwt-auth');
    }
    authMissUs = Math.min(authMissUs, Math.round(Number(process.hrtime.bigint() - t0) / 1e3 / 200));
  }

  const authz = scopeAuthz.build({ route, snapshot, deps: auth.deps })!;
  x.identity = identity;
  const scopeAuthzUs = measure(200_000, () => must(authz.request!(x), 'scope-authz'));

  const quotaStage = quotaLocal.build({ route, snapshot, deps: { quota } })!;
  const quotaLocalUs = measure(200_000, () => must(quotaStage.request!(x), 'quota-local'));

  const headers = req.headers;
  const routeLookupUs = measure(200_000, () => {
    if (!snapshot.table.match('127.0.0.1', BENCH_PATH, 'GET', headers)) throw new Error('no route');
  });

  const deps: InboundDeps = {
    ...auth.deps,
    quota,
    tier: 'sidecar-inbound',
    accessLog: accessLogger(),
    service: BENCH_SERVICE,
    appUpstream: () => Promise.reject(new Error('not called')),
    trustRequestId: true,
  };
  const engine = new Engine<InboundDeps>('sidecar-inbound', INBOUND_CHAIN, deps, logger('bench'));
  const chains = engine.chainsFor(snapshot);
  const routeChain = chains.routes.get('bench')!;
  const beforeForward: Stage[] = routeChain.request.filter((s) => s.name !== 'forward-local-app');
  const chainSyncUs = measure(50_000, () => {
    const e = new Exchange(req, response, 'sidecar-inbound');
    e.snapshot = snapshot;
    must(runChain(chains.pre, e), 'pre chain');
    must(runChain(beforeForward, e), 'route chain');
  });
  const logged = fresh();
  logged.status = 200;
  logged.service = BENCH_SERVICE;
  logged.requestId = 'bench-request-id';
  const accessLogUs = measure(50_000, () => chains.log[0].response!(logged));

  await auth.close();
  await quota.close();
  await keys.close();
  await store.close();
  return { authCachedUs, authMissUs, scopeAuthzUs, quotaLocalUs, routeLookupUs, chainSyncUs, accessLogUs };
}

if (process.send) {
  const results = await runMicro();
  process.send({ type: 'ready', results });
  // Let the IPC message flush before leaving.
  setTimeout(() => process.exit(0), 100);
}
