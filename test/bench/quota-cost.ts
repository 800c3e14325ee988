// Quota benchmark: µs per request on the local path (quota-local, and quota-global spending a lease), the fraction
// of requests that waited on quota-svc at steady state (real gRPC), and process RSS with one million distinct keys.
//
//   node --import tsx test/bench/quota-cost.ts            (prints JSON; `measureQuotaCost()` for npm run bench)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { quotaLocal } from '../../sidecar/stages/quota-local.js';
import { quotaGlobal } from '../../sidecar/stages/quota-global.js';
import { createQuotaRuntime } from '../../core/quota/quota-runtime.js';
import { MemoryQuotaStore } from '../../core/quota/memory-quota-store.js';
import { StoreQuotaBackend } from '../../core/quota/quota-client.js';
import type { Stage } from '../../core/pipeline/stage.js';
import type { Exchange } from '../../core/pipeline/exchange.js';
import type { QuotaPolicy } from '../../core/config/schema.js';
import { startQuota } from '../../quota-svc/main.js';
import { fakeExchange, quotaRoute } from '../support/quota-fixtures.js';

export interface QuotaCost {
  /** quota-local, one policy keyed by client ip, 10,000 active keys. */
  localUsPerRequest: number;
  /** quota-global spending tokens already leased (the synchronous path), 100 active keys. */
  globalLeasedUsPerRequest: number;
  /** Steady state below the limit, per-minute policy, 20 keys, over real gRPC to quota-svc. */
  waitedFraction: number;
  waitedRequests: number;
  globalRequests: number;
  leaseRequests: number;
  /** RSS before and after one million distinct keys went through quota-local (maxKeys 1,000,000). */
  rssBaselineMb: number;
  rssMillionKeysMb: number;
  bytesPerKey: number;
}

function stageFor(quota: QuotaPolicy[], runtime: ReturnType<typeof createQuotaRuntime>, global: boolean): Stage {
  const { route, snapshot } = quotaRoute(quota);
  const def = global ? quotaGlobal : quotaLocal;
  return def.build({ route, snapshot, deps: { quota: runtime } })!;
}

/** Exchanges are reused (their creation is not the stage's cost); only the key and headers change per request. */
function exchanges(count: number, ipOf: (i: number) => string): Exchange[] {
  return Array.from({ length: count }, (_, i) => fakeExchange({ clientIp: ipOf(i) }));
}

const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

function timeSync(stage: Stage, pool: Exchange[], requests: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < requests; i++) {
    const x = pool[i % pool.length];
    x.responseHeaders = {};
    const verdict = stage.request!(x);
    if (verdict instanceof Promise) throw new Error('the measured path must be synchronous');
  }
  return Number(process.hrtime.bigint() - start) / 1000 / requests;
}

function measureLocal(): number {
  const runtime = createQuotaRuntime({ service: 'bench', maxKeys: 100_000 });
  const stage = stageFor([{ limit: 1_000_000_000, window: 'second' }], runtime, false);
  const pool = exchanges(10_000, ip);
  timeSync(stage, pool, 200_000); // warm-up (JIT)
  return Math.min(timeSync(stage, pool, 1_000_000), timeSync(stage, pool, 1_000_000));
}

async function measureGlobalLeased(): Promise<number> {
  const runtime = createQuotaRuntime({ service: 'bench', backend: new StoreQuotaBackend(new MemoryQuotaStore()) });
  const stage = stageFor([{ limit: 1_000_000_000, window: 'minute', scope: 'global' }], runtime, true);
  const pool = exchanges(100, ip);
  // Fill the leases (the first requests per key wait), then measure only synchronous spending.
  for (let round = 0; round < 50; round++) {
    for (const x of pool) await stage.request!(x);
    await new Promise((resolve) => setImmediate(resolve));
  }
  let total = 0;
  let measured = 0;
  for (let batch = 0; batch < 200; batch++) {
    const start = process.hrtime.bigint();
    let n = 0;
    for (; n < 5000; n++) {
      const x = pool[n % pool.length];
      x.responseHeaders = {};
      const verdict = stage.request!(x);
      if (verdict instanceof Promise) {
        await verdict; // rare: a refill not back yet; excluded from the timing below
        break;
      }
    }
    total += Number(process.hrtime.bigint() - start) / 1000;
    measured += n;
    await new Promise((resolve) => setImmediate(resolve)); // let refills sent ahead come back
  }
  await runtime.close();
  return total / measured;
}

async function measureWaits(): Promise<Pick<QuotaCost, 'waitedFraction' | 'waitedRequests' | 'globalRequests' | 'leaseRequests'>> {
  const svc = await startQuota({ grpcPort: 0, httpPort: 0, host: '127.0.0.1' });
  const runtime = createQuotaRuntime({ service: 'bench', quotaAddress: `127.0.0.1:${svc.grpcPort}` });
  const stage = stageFor([{ limit: 1_000_000, window: 'minute', scope: 'global' }], runtime, true);
  const pool = exchanges(20, ip);
  // Steady state: 3 s of requests in bursts of 200 with the event loop turning between bursts (as a server's does).
  const deadline = Date.now() + 3000;
  for (let burst = 0; burst < 100_000 && Date.now() < deadline; burst++) {
    for (let i = 0; i < 200; i++) {
      const x = pool[(burst * 200 + i) % pool.length];
      x.responseHeaders = {};
      const verdict = stage.request!(x);
      if (verdict instanceof Promise) await verdict;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  const { checks, waits, leaseRequests } = runtime.leases.stats;
  await runtime.close();
  await svc.close();
  return { waitedFraction: waits / checks, waitedRequests: waits, globalRequests: checks, leaseRequests };
}

function gcRss(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss;
}

let held: unknown;

function measureMillionKeys(): Pick<QuotaCost, 'rssBaselineMb' | 'rssMillionKeysMb' | 'bytesPerKey'> {
  const before = gcRss();
  const runtime = createQuotaRuntime({ service: 'bench-rss', maxKeys: 1_000_000 });
  const stage = stageFor([{ limit: 10, window: 'minute' }], runtime, false);
  const x = fakeExchange();
  for (let i = 0; i < 1_000_000; i++) {
    x.clientIp = ip(i);
    x.responseHeaders = {};
    stage.request!(x);
  }
  if (runtime.buckets.size !== 1_000_000) throw new Error(`expected 1,000,000 keys, have ${runtime.buckets.size}`);
  const afterRss = gcRss();
  held = runtime; // reachable until measured
  return { rssBaselineMb: before / 2 ** 20, rssMillionKeysMb: afterRss / 2 ** 20, bytesPerKey: (afterRss - before) / 1_000_000 };
}

export async function measureQuotaCost(): Promise<QuotaCost> {
  // RSS is measured in a fresh process (with --expose-gc) so the other measurements do not colour it.
  const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--rss-only'], { encoding: 'utf8', timeout: 120_000 });
  const rss = JSON.parse(child.stdout.trim().split('\n').filter((l) => l.startsWith('{"rss')).at(-1)!).rss as ReturnType<typeof measureMillionKeys>;
  const local = measureLocal();
  const globalLeased = await measureGlobalLeased();
  const waits = await measureWaits();
  return { localUsPerRequest: local, globalLeasedUsPerRequest: globalLeased, ...waits, ...rss };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.env.MESHGATE_LOG_LEVEL ??= 'warn';
  if (process.argv.includes('--rss-only')) {
    process.stdout.write(JSON.stringify({ rss: measureMillionKeys() }) + '\n');
  } else {
    const cost = await measureQuotaCost();
    process.stdout.write(JSON.stringify(cost, null, 2) + '\n');
  }
  process.exit(0);
}
