// Config propagation benchmark (`npm run bench:propagation`): a real etcd, K real edge processes verified over
// their admin /config, and W in-process ConfigWatch watchers running the real validate-compile-swap code; measures
// apply → every node serving the new version (p50/p99/max over repeated applies). Bounded in time.
//
// Flags: --watchers N (1000) --processes K (5) --applies R (20) --stores S (default N: one EtcdStore, i.e. one
// etcd client, watch stream and node lease per watcher, as in a fleet; fewer shares clients between watchers)
// --budget-s T (300, the whole run) --out FILE (test/bench/results/propagation.json).
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { log } from '../../core/telemetry/log.js';
import { EtcdStore } from '../../core/store/etcd-store.js';
import { ConfigWatch } from '../../core/config/config-watch.js';
import { SnapshotHolder } from '../../core/config/snapshot.js';
import { loadConfigFile } from '../../core/config/load.js';
import type { MeshConfig } from '../../core/config/schema.js';
import { publishSnapshot } from '../../registry/publish.js';
import { startEtcd } from '../support/start-etcd.js';
import { spawnMeshgate, ROOT, type MeshProcess } from '../support/spawn-mesh.js';
import { percentile } from './load.js';

const { values: flags } = parseArgs({
  options: {
    watchers: { type: 'string', default: '1000' },
    processes: { type: 'string', default: '5' },
    applies: { type: 'string', default: '20' },
    stores: { type: 'string' },
    'budget-s': { type: 'string', default: '300' },
    out: { type: 'string', default: fileURLToPath(new URL('./results/propagation.json', import.meta.url)) },
  },
});
const WATCHERS = Number(flags.watchers);
const PROCESSES = Number(flags.processes);
const APPLIES = Number(flags.applies);
const STORES = Math.min(WATCHERS, Number(flags.stores ?? WATCHERS));
const BUDGET_MS = Number(flags['budget-s']) * 1000;
const PER_APPLY_TIMEOUT_MS = 15_000;
const POLL_MS = 5;
const WARMUP_APPLIES = 2;
const PREFIX = '/meshgate-bench/';

// The watchers' own logs (one line per swap per watcher) would measure pino, not propagation.
log.level = 'warn';
const startedAt = Date.now();
const deadline = startedAt + BUDGET_MS;
const say = (line: string) => process.stderr.write(`${line}\n`);

interface ApplySample {
  version: number;
  /** apply call → etcd transaction committed. */
  commitMs: number;
  /** apply → the last in-process watcher swapped. */
  watchersAllMs: number;
  /** apply → median in-process watcher swapped. */
  watchersP50Ms: number;
  /** apply → the last process seen serving it over HTTP /config. */
  processesAllMs: number;
  /** apply → the last process's own appliedAt (ms resolution, same clock). */
  processesReportedMs: number;
  /** apply → everything above serving. */
  allMs: number;
}

function configs(base: MeshConfig): [MeshConfig, MeshConfig] {
  const toggled = structuredClone(base);
  toggled.routes.push({ name: 'bench-toggle', matches: [{ path: { type: 'PathPrefix', value: '/bench-toggle' } }], backendRefs: [{ name: base.services[0].name }] } as MeshConfig['routes'][number]);
  return [base, toggled];
}

async function startProcess(i: number, endpoint: string, stateDir: string): Promise<{ proc: MeshProcess; admin: string }> {
  const proc = spawnMeshgate(
    ['edge', '--no-https', '--host', '127.0.0.1', '--http-port', '0', '--admin-port', '0', '--node-id', `bench-edge-${i}`, '--state-dir', stateDir],
    { MESHGATE_ETCD: endpoint, MESHGATE_PREFIX: PREFIX, MESHGATE_LOG_LEVEL: 'info' },
  );
  const line = await proc.waitForLine((l) => l.component === 'edge-admin' && l.msg === 'admin listening', 60_000);
  return { proc, admin: `http://127.0.0.1:${line.port as number}` };
}

async function processVersion(admin: string): Promise<{ version?: number; appliedAt?: string }> {
  const res = await fetch(`${admin}/config`, { signal: AbortSignal.timeout(2_000) });
  return (await res.json()) as { version?: number; appliedAt?: string };
}

/** Poll one process's /config until it serves `version`; the observation time (ms since t0) and its appliedAt. */
async function processServing(admin: string, version: number, t0: number, wallT0: number, until: number): Promise<{ seenMs: number; reportedMs: number }> {
  for (;;) {
    const c = await processVersion(admin).catch(() => ({}) as { version?: number; appliedAt?: string });
    if ((c.version ?? 0) >= version) return { seenMs: performance.now() - t0, reportedMs: c.appliedAt ? Date.parse(c.appliedAt) - wallT0 : NaN };
    if (Date.now() > until) throw new Error(`${admin} did not serve version ${version} in time (serves ${c.version})`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

const pct = (values: number[], p: number) => percentile(Float64Array.from(values).sort(), p);
const round = (v: number) => Math.round(v * 10) / 10;

async function main(): Promise<void> {
  const etcdVersion = execFileSync('etcd', ['--version']).toString().split('\n')[0];
  say(`propagation bench: ${WATCHERS} in-process watchers on ${STORES} etcd client(s), ${PROCESSES} edge processes, ${APPLIES} applies`);
  const etcd = await startEtcd();
  const stateDir = mkdtempSync(join(tmpdir(), 'meshgate-bench-prop-'));
  const admin = new EtcdStore({ endpoints: etcd.endpoint, prefix: PREFIX });
  const stores: EtcdStore[] = [];
  const watches: ConfigWatch[] = [];
  const procs: MeshProcess[] = [];
  try {
    const [a, b] = configs(await loadConfigFile(join(ROOT, 'compose/routes.yaml')));
    let next = 0;
    const apply = () => publishSnapshot(admin, next++ % 2 === 0 ? a : b, { author: 'bench', message: 'propagation', allowRemovals: true });
    await apply();

    const admins: string[] = [];
    for (let i = 0; i < PROCESSES; i++) {
      const { proc, admin: url } = await startProcess(i, etcd.endpoint, stateDir);
      procs.push(proc);
      admins.push(url);
    }
    say(`  ${PROCESSES} edge processes up`);

    for (let i = 0; i < STORES; i++) stores.push(new EtcdStore({ endpoints: etcd.endpoint, prefix: PREFIX }));
    // Per-watcher swap times of the apply in flight, written by the swap listener (no promise per watcher).
    let target = 0;
    let t0 = 0;
    let swapped = 0;
    let allSwapped: (() => void) | undefined;
    const swapAt = new Float64Array(WATCHERS);
    const t = performance.now();
    for (let i = 0; i < WATCHERS; i++) {
      const holder = new SnapshotHolder();
      holder.onSwap((s) => {
        if (s.version !== target || swapAt[i] !== 0) return;
        swapAt[i] = performance.now() - t0;
        if (++swapped === WATCHERS) allSwapped?.();
      });
      watches.push(new ConfigWatch({ store: stores[i % STORES], holder, role: 'sidecar', nodeId: `bench-watcher-${i}`, service: 'bench' }));
    }
    await Promise.all(watches.map((w) => w.start()));
    say(`  ${WATCHERS} watchers serving after ${Math.round(performance.now() - t)} ms`);

    const samples: ApplySample[] = [];
    const perWatcher: number[] = [];
    for (let round_ = 0; round_ < WARMUP_APPLIES + APPLIES; round_++) {
      if (Date.now() > deadline) {
        say(`  budget of ${BUDGET_MS / 1000}s reached after ${samples.length} measured applies`);
        break;
      }
      swapAt.fill(0);
      swapped = 0;
      const watchersDone = new Promise<void>((resolve) => (allSwapped = resolve));
      target = (await admin.get('config/current').then((v) => (v ? (JSON.parse(v) as { version: number }).version : 0))) + 1;
      const until = Date.now() + PER_APPLY_TIMEOUT_MS;
      const wallT0 = Date.now();
      t0 = performance.now();
      const result = await apply();
      const commitMs = performance.now() - t0;
      if (result.version !== target) throw new Error(`applied version ${result.version}, expected ${target}`);
      const [processes] = await Promise.all([
        Promise.all(admins.map((url) => processServing(url, target, t0, wallT0, until))),
        Promise.race([
          watchersDone,
          new Promise<void>((_, reject) => setTimeout(() => reject(new Error(`only ${swapped}/${WATCHERS} watchers swapped to ${target}`)), until - Date.now()).unref()),
        ]),
      ]);
      if (round_ < WARMUP_APPLIES) continue;
      const watcherTimes = Array.from(swapAt);
      perWatcher.push(...watcherTimes);
      const watchersAllMs = Math.max(...watcherTimes);
      const processesAllMs = Math.max(0, ...processes.map((p) => p.seenMs));
      samples.push({
        version: target,
        commitMs: round(commitMs),
        watchersAllMs: round(watchersAllMs),
        watchersP50Ms: round(pct(watcherTimes, 50)),
        processesAllMs: round(processesAllMs),
        processesReportedMs: Math.max(0, ...processes.map((p) => p.reportedMs)),
        allMs: round(Math.max(watchersAllMs, processesAllMs)),
      });
      // Let the node-record writes of this apply settle so applies do not overlap.
      await new Promise((r) => setTimeout(r, 100));
    }

    const summary = (key: keyof ApplySample) => {
      const values = samples.map((s) => s[key]);
      return { p50: round(pct(values, 50)), p99: round(pct(values, 99)), max: round(Math.max(...values)) };
    };
    const table = {
      'apply → etcd commit': summary('commitMs'),
      [`apply → median of ${WATCHERS} watchers`]: summary('watchersP50Ms'),
      [`apply → all ${WATCHERS} watchers`]: summary('watchersAllMs'),
      [`apply → all ${PROCESSES} processes (seen over HTTP)`]: summary('processesAllMs'),
      [`apply → all ${PROCESSES} processes (their appliedAt)`]: summary('processesReportedMs'),
      'apply → every node serving': summary('allMs'),
    };
    const individual = { p50: round(pct(perWatcher, 50)), p99: round(pct(perWatcher, 99)), max: round(Math.max(...perWatcher)) };
    const width = Math.max(...Object.keys(table).map((k) => k.length));
    const lines = [
      `| ${`measure (ms, over ${samples.length} applies)`.padEnd(width)} |    p50 |    p99 |    max |`,
      `|${'-'.repeat(width + 2)}|-------:|-------:|-------:|`,
      ...Object.entries(table).map(([k, v]) => `| ${k.padEnd(width)} | ${String(v.p50).padStart(6)} | ${String(v.p99).padStart(6)} | ${String(v.max).padStart(6)} |`),
      `| ${'one watcher (every watcher × apply)'.padEnd(width)} | ${String(individual.p50).padStart(6)} | ${String(individual.p99).padStart(6)} | ${String(individual.max).padStart(6)} |`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const out = {
      command: `npm run bench:propagation -- ${process.argv.slice(2).join(' ')}`.trim(),
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, memGb: Math.round(totalmem() / 2 ** 30), loadavgAtEnd: loadavg().map(round), node: process.version, etcd: etcdVersion },
      setup: {
        watchers: WATCHERS,
        etcdClients: STORES,
        processes: PROCESSES,
        processKind: 'meshgate edge (own process each, verified by polling its admin /config every 5 ms)',
        applies: samples.length,
        warmupApplies: WARMUP_APPLIES,
        config: 'compose/routes.yaml, alternating with one extra route',
      },
      summaryMs: { ...table, 'one watcher (every watcher × apply)': individual },
      target: { p99UnderMs: 1000, aimMs: 100 },
      samples,
      durationS: Math.round((Date.now() - startedAt) / 1000),
    };
    mkdirSync(dirname(flags.out!), { recursive: true });
    writeFileSync(flags.out!, `${JSON.stringify(out, null, 2)}\n`);
    say(`  wrote ${flags.out} (${out.durationS}s)`);
  } finally {
    await Promise.all(watches.map((w) => w.stop().catch(() => {})));
    await Promise.all(stores.map((s) => s.close().catch(() => {})));
    await Promise.all(procs.map((p) => p.stop()));
    await admin.close();
    await etcd.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`propagation bench failed: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
