// Auth benchmark: (1) the jwt-auth stage's cost per request, cached and uncached, per algorithm, and the cache hit
// ratio under a realistic token mix; (2) revocation propagation on a real etcd: POST /v1/revocations returning →
// the token refused by K real sidecar processes (polled over HTTP every 2 ms) and W in-process RevocationList
// mirrors (worker threads, the real code): p50/p99/max. Bounded in time.
//
//   node --import tsx test/bench/auth-cost.ts [--part cost|propagation|all] [--watchers 500] [--processes 5]
//        [--revocations 20] [--threads cores] [--stores 50] [--budget-s 240] [--out test/bench/results/auth.json]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { request } from 'undici';
import { log } from '../../core/telemetry/log.js';
import { MemoryStore } from '../../core/store/memory-store.js';
import { EtcdStore } from '../../core/store/etcd-store.js';
import { compileConfig } from '../../core/config/compile.js';
import type { MeshConfig } from '../../core/config/schema.js';
import { Exchange } from '../../core/pipeline/exchange.js';
import { startSidecarAuth } from '../../core/auth/sidecar-auth.js';
import { registry } from '../../core/telemetry/metrics.js';
import { SigningKeys, type SigningAlgorithm } from '../../authz-svc/signing-keys.js';
import { startAuthz } from '../../authz-svc/main.js';
import { publishSnapshot } from '../../registry/publish.js';
import { jwtAuth } from '../../sidecar/stages/jwt-auth.js';
import { startEtcd } from '../support/start-etcd.js';
import { spawnMeshgate, type MeshProcess } from '../support/spawn-mesh.js';
import type { FromRevocationWatchers, RevocationWatchersData, ToRevocationWatchers } from './revocation-watchers.js';

const { values: flags } = parseArgs({
  options: {
    part: { type: 'string', default: 'all' },
    watchers: { type: 'string', default: '500' },
    processes: { type: 'string', default: '5' },
    revocations: { type: 'string', default: '20' },
    threads: { type: 'string', default: String(Math.max(1, cpus().length)) },
    stores: { type: 'string', default: '50' },
    'budget-s': { type: 'string', default: '240' },
    out: { type: 'string', default: fileURLToPath(new URL('./results/auth.json', import.meta.url)) },
  },
});
log.level = 'warn';
const say = (line: string) => process.stderr.write(`${line}\n`);
const now = () => performance.timeOrigin + performance.now();
const deadline = Date.now() + Number(flags['budget-s']) * 1000;
const ISSUER = 'https://meshgate.bench';
const ADMIN = 'bench-admin-token-0123456789abcdef';

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

function exchangeFor(token: string): Exchange {
  const req = { headers: { authorization: `Bearer ${token}` }, method: 'GET', socket: { remoteAddress: '127.0.0.1' } };
  return new Exchange(req as unknown as IncomingMessage, {} as ServerResponse, 'sidecar-inbound');
}

// ---------------------------------------------------------------- part 1: cost per request

interface CostResult {
  algorithm: SigningAlgorithm;
  cachedUs: number;
  uncachedUs: number;
}

async function measureCost(): Promise<{ perAlgorithm: CostResult[]; mix: { requests: number; tokens: number; hitRatio: number; meanUs: number } }> {
  const config: MeshConfig = {
    apiVersion: 'meshgate/v1',
    services: [{ name: 'svc', endpoints: ['127.0.0.1:1'] }],
    routes: [{ name: 'r', matches: [{}], backendRefs: [{ name: 'svc' }], auth: { issuers: [ISSUER] } }],
  };
  const snapshot = compileConfig(config, { version: 1, digest: 'bench' });
  const perAlgorithm: CostResult[] = [];
  for (const algorithm of ['ES256', 'RS256', 'EdDSA'] as const) {
    const store = new MemoryStore();
    const keys = await SigningKeys.create(store, { issuer: ISSUER, algorithm });
    const auth = await startSidecarAuth(store);
    const stage = jwtAuth.build({ route: snapshot.routes[0], snapshot, deps: auth.deps })!;
    const tokens = await Promise.all(Array.from({ length: 400 }, (_, i) => keys.issue({ sub: `u${i}`, scope: 'a b' })));
    // Uncached: every token once (hash, miss, jose jwtVerify, cache fill), after a warm-up round.
    for (const t of tokens.slice(0, 50)) await stage.request!(exchangeFor(t));
    auth.deps.cache.clear();
    let t0 = process.hrtime.bigint();
    for (const t of tokens) {
      const v = await stage.request!(exchangeFor(t));
      if (v !== undefined) throw new Error(`uncached verification refused: ${JSON.stringify(v)}`);
    }
    const uncachedUs = Number(process.hrtime.bigint() - t0) / 1e3 / tokens.length;
    // Cached: the synchronous path, round-robin over the 400 cached tokens.
    const xs = tokens.map(exchangeFor);
    const n = 200_000;
    t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (stage.request!(xs[i % xs.length]) !== undefined) throw new Error('cached verification refused');
    const cachedUs = Number(process.hrtime.bigint() - t0) / 1e3 / n;
    perAlgorithm.push({ algorithm, cachedUs: round(cachedUs, 2), uncachedUs: round(uncachedUs) });
    await keys.close();
    await auth.close();
  }

  // A realistic mix: 5,000 clients with Zipf-like activity (a few very busy, a long tail), each token reused until
  // it is replaced; 1 % of requests bring a fresh token (login / refresh). Hit ratio from the cache's own counter.
  const store = new MemoryStore();
  const keys = await SigningKeys.create(store, { issuer: ISSUER });
  const auth = await startSidecarAuth(store);
  const stage = jwtAuth.build({ route: snapshot.routes[0], snapshot, deps: auth.deps })!;
  const clients = 5000;
  const tokens = await Promise.all(Array.from({ length: clients }, (_, i) => keys.issue({ sub: `c${i}` })));
  const weights = Array.from({ length: clients }, (_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  weights.reduce((acc, w, i) => ((cumulative[i] = (acc + w) / total), acc + w), 0);
  const pick = () => {
    const r = Math.random();
    let lo = 0;
    let hi = clients - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < r) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const requests = 100_000;
  // The fresh tokens are signed before the clock starts: issuing is authz-svc's cost, not the sidecar's.
  const plan = Array.from({ length: requests }, () => ({ client: pick(), renew: Math.random() < 0.01 }));
  const renewals = await Promise.all(plan.filter((p) => p.renew).map((p) => keys.issue({ sub: `c${p.client}` })));
  const fresh = renewals.length;
  const before = await lookupCounts();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < requests; i++) {
    const { client: c, renew } = plan[i];
    if (renew) tokens[c] = renewals.pop()!;
    const v = stage.request!(exchangeFor(tokens[c]));
    if ((v instanceof Promise ? await v : v) !== undefined) throw new Error('mix verification refused');
  }
  const meanUs = Number(process.hrtime.bigint() - t0) / 1e3 / requests;
  const after = await lookupCounts();
  const hits = after.hit - before.hit;
  const lookups = hits + (after.miss - before.miss);
  await keys.close();
  await auth.close();
  return { perAlgorithm, mix: { requests, tokens: clients + fresh, hitRatio: round(hits / lookups, 4), meanUs: round(meanUs, 2) } };
}

async function lookupCounts(): Promise<{ hit: number; miss: number }> {
  const metric = await registry.getSingleMetric('meshgate_auth_cache_lookups_total')!.get();
  const value = (result: string) => metric.values.find((v) => v.labels.result === result)?.value ?? 0;
  return { hit: value('hit'), miss: value('miss') };
}

// ---------------------------------------------------------------- part 2: revocation propagation

class WatcherThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<string, (m: FromRevocationWatchers) => void>();

  constructor(data: RevocationWatchersData) {
    const entry = new URL('./revocation-watchers.ts', import.meta.url).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    // Worker threads do not inherit --import hooks on Node 20: register tsx in the thread, then load the entry.
    this.worker = new Worker(`import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`, { eval: true, workerData: data });
    this.worker.on('message', (m: FromRevocationWatchers) => {
      const key = m.type === 'refused' || m.type === 'expecting' ? `${m.type}:${m.jti}` : m.type;
      this.waiting.get(key)?.(m);
      this.waiting.delete(key);
    });
    this.worker.on('error', (err) => say(`watcher thread failed: ${err.message}`));
  }

  next<T extends FromRevocationWatchers>(key: string, timeoutMs: number, send?: ToRevocationWatchers): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`watcher thread: no ${key} within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.set(key, (m) => (clearTimeout(timer), resolve(m as T)));
      if (send) this.worker.postMessage(send);
    });
  }

  async stop(): Promise<void> {
    await this.next('stopped', 30_000, { type: 'stop' }).catch(() => {});
    await this.worker.terminate();
  }
}

interface PropagationResult {
  watchers: number;
  processes: number;
  revocations: number;
  /** POST returned → a mirror refuses (every mirror × revocation sample), ms. */
  watcherMs: { p50: number; p99: number; max: number };
  /** POST returned → a sidecar process answers 401 over HTTP (2 ms polls), ms. */
  processMs: { p50: number; p99: number; max: number };
  /** POST returned → refused everywhere (per revocation), ms. */
  everywhereMs: { p50: number; p99: number; max: number };
  /** The POST itself (etcd write included), ms. */
  postMs: { p50: number; max: number };
}

async function measurePropagation(): Promise<PropagationResult> {
  const W = Number(flags.watchers);
  const K = Number(flags.processes);
  const R = Number(flags.revocations);
  const threads = Math.max(1, Math.min(Number(flags.threads), W));
  const storesTotal = Math.max(threads, Math.min(W, Number(flags.stores)));
  const prefix = `/meshgate-bench-revocation-${process.pid}/`;
  const etcd = await startEtcd();
  const stateDir = mkdtempSync(join(tmpdir(), 'meshgate-bench-auth-'));
  const cleanup: (() => Promise<unknown>)[] = [async () => etcd.stop(), async () => rmSync(stateDir, { recursive: true, force: true })];
  try {
    const store = new EtcdStore({ endpoints: etcd.endpoint, prefix });
    cleanup.unshift(() => store.close());
    const app = http.createServer((_req, res) => res.end('{"ok":true}'));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    cleanup.unshift(() => new Promise((resolve) => app.close(resolve)));
    const config: MeshConfig = {
      apiVersion: 'meshgate/v1',
      services: [{ name: 'bench' }],
      routes: [{ name: 'secure', matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'bench' }], auth: {} }],
    };
    await publishSnapshot(store, config, { author: 'bench', message: 'revocation propagation' });
    const authz = await startAuthz({ store, httpPort: 0, grpcPort: 0, adminToken: ADMIN, issuer: ISSUER });
    cleanup.unshift(() => authz.close());
    const base = `http://127.0.0.1:${authz.httpPort}`;

    say(`starting ${K} sidecar processes and ${W} in-process mirrors (${threads} threads, ${storesTotal} etcd clients)`);
    const procs: { proc: MeshProcess; url: string }[] = await Promise.all(
      Array.from({ length: K }, async (_, i) => {
        const proc = spawnMeshgate(
          ['sidecar', '--service', 'bench', '--app', `127.0.0.1:${(app.address() as AddressInfo).port}`, '--host', '127.0.0.1', '--inbound-port', '0', '--outbound-port', '0', '--admin-port', '0', '--node-id', `bench-sidecar-${i}`, '--state-dir', stateDir],
          { MESHGATE_ETCD: etcd.endpoint, MESHGATE_PREFIX: prefix, MESHGATE_LOG_LEVEL: 'info' },
        );
        cleanup.unshift(() => proc.stop());
        const line = await proc.waitForLine((l) => l.msg === 'sidecar listening', 90_000);
        return { proc, url: `http://127.0.0.1:${line.inboundPort as number}/x` };
      }),
    );
    const workers: WatcherThread[] = [];
    for (let t = 0; t < threads; t++) {
      const count = Math.floor(W / threads) + (t < W % threads ? 1 : 0);
      const stores = Math.floor(storesTotal / threads) + (t < storesTotal % threads ? 1 : 0);
      const w = new WatcherThread({ endpoint: etcd.endpoint, prefix, count, stores });
      workers.push(w);
      cleanup.unshift(() => w.stop());
    }
    await Promise.all(workers.map((w) => w.next('ready', 120_000)));

    const status = async (url: string, token: string) => {
      const res = await request(url, { headers: { authorization: `Bearer ${token}` } });
      await res.body.dump();
      return res.statusCode;
    };
    const watcherSamples: number[] = [];
    const processSamples: number[] = [];
    const everywhere: number[] = [];
    const posts: number[] = [];
    // Two warm-up revocations (first watch events, JIT) are not counted.
    for (let r = -2; r < R && Date.now() < deadline; r++) {
      const issued = (await (await request(`${base}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ sub: `bench-${r + 2}`, ttlSeconds: 600 }) })).body.json()) as { token: string; jti: string };
      // Every sidecar has it cached (200) before it is revoked: the measure is the cached path turning into 401.
      for (const p of procs) {
        let s = 0;
        for (let i = 0; i < 200 && s !== 200; i++) s = await status(p.url, issued.token);
        if (s !== 200) throw new Error(`sidecar ${p.url} does not accept the fresh token (${s})`);
      }
      const refused = workers.map((w) => w.next<{ type: 'refused'; jti: string; at: Float64Array }>(`refused:${issued.jti}`, 30_000));
      await Promise.all(workers.map((w) => w.next(`expecting:${issued.jti}`, 10_000, { type: 'expect', jti: issued.jti, sub: `bench-${r + 2}` })));
      const postStart = now();
      const res = await request(`${base}/v1/revocations`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ token: issued.token }) });
      await res.body.dump();
      const returned = now();
      const procTimes = await Promise.all(
        procs.map(async (p) => {
          for (;;) {
            if ((await status(p.url, issued.token)) === 401) return now();
            if (now() - returned > 30_000) throw new Error(`${p.url} still accepts a revoked token after 30 s`);
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
        }),
      );
      const watcherTimes = (await Promise.all(refused)).flatMap((m) => [...m.at]);
      const lat = (t: number) => Math.max(0, t - returned);
      if (r < 0) continue;
      posts.push(returned - postStart);
      for (const t of watcherTimes) watcherSamples.push(lat(t));
      for (const t of procTimes) processSamples.push(lat(t));
      everywhere.push(Math.max(...[...watcherTimes, ...procTimes].map(lat)));
      say(`revocation ${r + 1}/${R}: everywhere in ${round(everywhere.at(-1)!)} ms`);
    }
    const stats = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return { p50: round(percentile(s, 50)), p99: round(percentile(s, 99)), max: round(s.at(-1) ?? NaN) };
    };
    const p = stats(posts);
    return { watchers: W, processes: K, revocations: everywhere.length, watcherMs: stats(watcherSamples), processMs: stats(processSamples), everywhereMs: stats(everywhere), postMs: { p50: p.p50, max: p.max } };
  } finally {
    for (const c of cleanup) await c().catch(() => {});
  }
}

const result: Record<string, unknown> = { at: new Date().toISOString(), node: process.version, cpus: cpus().length, loadavg: loadavg().map((v) => round(v, 2)) };
if (flags.part === 'cost' || flags.part === 'all') {
  result.cost = await measureCost();
  say(`cost: ${JSON.stringify(result.cost)}`);
}
if (flags.part === 'propagation' || flags.part === 'all') result.propagation = await measurePropagation();
mkdirSync(dirname(flags.out!), { recursive: true });
writeFileSync(flags.out!, `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
process.exit(0);
