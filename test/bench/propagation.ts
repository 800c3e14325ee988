// Config propagation benchmark (`npm run bench:propagation`): a real etcd, K real edge processes verified over
// their admin /config, and W in-process ConfigWatch watchers running the real validate-compile-swap code; measures
// apply → every node serving the new version (p50/p99/max over repeated applies). Bounded in time.
//
// The watchers live in worker threads (--threads, default one per core) so the applier on the main thread is not
// starved by a thousand compiles; each watcher has its own EtcdStore (etcd client, watch, node lease) unless
// --stores shares fewer clients between them.
// Flags: --watchers N (1000) --processes K (5) --applies R (20) --threads T (cores) --stores S (N)
//        --budget-s B (300, the whole run) --out FILE (test/bench/results/propagation.json)
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { log } from '../../core/telemetry/log.js';
import { EtcdStore } from '../../core/store/etcd-store.js';
import { NODES_PREFIX, type NodeRecord } from '../../core/config/config-watch.js';
import { loadConfigFile } from '../../core/config/load.js';
import type { MeshConfig } from '../../core/config/schema.js';
import { publishSnapshot } from '../../registry/publish.js';
import { startEtcd } from '../support/start-etcd.js';
import { spawnMeshgate, ROOT, type MeshProcess } from '../support/spawn-mesh.js';
import { percentile } from './load.js';
import type { FromWatchers, ToWatchers, WatchersData } from './propagation-watchers.js';

const { values: flags } = parseArgs({
  options: {
    watchers: { type: 'string', default: '1000' },
    processes: { type: 'string', default: '5' },
    applies: { type: 'string', default: '20' },
    threads: { type: 'string', default: String(Math.max(1, cpus().length)) },
    stores: { type: 'string' },
    'budget-s': { type: 'string', default: '300' },
    out: { type: 'string', default: fileURLToPath(new URL('./results/propagation.json', import.meta.url)) },
  },
});
const WATCHERS = Number(flags.watchers);
const PROCESSES = Number(flags.processes);
const APPLIES = Number(flags.applies);
const THREADS = Math.max(1, Math.min(Number(flags.threads), WATCHERS));
const STORES = Math.max(THREADS, Math.min(WATCHERS, Number(flags.stores ?? WATCHERS)));
const BUDGET_MS = Number(flags['budget-s']) * 1000;
const PER_APPLY_TIMEOUT_MS = 30_000;
const POLL_MS = 5;
/** Not measured: the first applies after a thousand watchers start still pay JIT and heap growth (the third took
 *  about twice the steady state in runs with two). */
const WARMUP_APPLIES = 5;
const PREFIX = '/meshgate-bench/';

log.level = 'warn';
const startedAt = Date.now();
const deadline = startedAt + BUDGET_MS;
const say = (line: string) => process.stderr.write(`${line}\n`);
const now = () => performance.timeOrigin + performance.now();

interface ApplySample {
  version: number;
  /** apply call → etcd transaction committed. */
  commitMs: number;
  /** apply → median in-process watcher swapped. */
  watchersP50Ms: number;
  /** apply → the last in-process watcher swapped. */
  watchersAllMs: number;
  /** apply → the last process seen serving it over HTTP /config (5 ms polls). */
  processesAllMs: number;
  /** apply → every node serving (watchers and processes). */
  allMs: number;
  /** apply → every nodes/<id> record says so (what `meshgate status --wait` sees). */
  reportedAllMs: number;
}

class WatcherThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<string, (m: FromWatchers) => void>();
  private failure: Error | undefined;

  constructor(data: WatchersData) {
    const entry = new URL('./propagation-watchers.ts', import.meta.url).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    // Worker threads do not inherit --import hooks on Node 20: register tsx in the thread, then load the entry.
    this.worker = new Worker(`import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`, {
      eval: true,
      workerData: data,
    });
    this.worker.on('message', (m: FromWatchers) => {
      const key = m.type === 'swapped' || m.type === 'expecting' ? `${m.type}:${m.version}` : m.type;
      this.waiting.get(key)?.(m);
      this.waiting.delete(key);
    });
    this.worker.on('error', (err) => {
      this.failure = err;
      for (const resolve of this.waiting.values()) resolve({ type: 'stopped' });
    });
  }

  next<T extends FromWatchers>(key: string, timeoutMs: number, send?: ToWatchers): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      const timer = setTimeout(() => reject(new Error(`watcher thread: no ${key} within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.set(key, (m) => {
        clearTimeout(timer);
        if (this.failure) reject(this.failure);
        else resolve(m as T);
      });
      if (send) this.worker.postMessage(send);
    });
  }

  async stop(): Promise<void> {
    await this.next('stopped', 30_000, { type: 'stop' }).catch(() => {});
    await this.worker.terminate();
  }
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

/** Poll one process's /config until it serves `version`; when it was first seen doing so (absolute ms). */
async function processServing(admin: string, version: number, until: number): Promise<number> {
  for (;;) {
    const c = (await fetch(`${admin}/config`, { signal: AbortSignal.timeout(5_000) })
      .then((r) => r.json())
      .catch(() => ({}))) as { version?: number };
    if ((c.version ?? 0) >= version) return now();
    if (Date.now() > until) throw new Error(`${admin} did not serve version ${version} in time (serves ${c.version})`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

const pct = (values: number[], p: number) => percentile(Float64Array.from(values).sort(), p);
const round = (v: number) => Math.round(v * 10) / 10;

async function main(): Promise<void> {
  const etcdVersion = execFileSync('etcd', ['--version']).toString().split('\n')[0];
  say(`propagation bench: ${WATCHERS} in-process watchers (${THREADS} threads, ${STORES} etcd clients), ${PROCESSES} edge processes, ${APPLIES} applies`);
  const loadAtStart = loadavg().map(round);
  const etcd = await startEtcd();
  const stateDir = mkdtempSync(join(tmpdir(), 'meshgate-bench-prop-'));
  // The applier waits out a busy etcd rather than failing the run; the wait is what gets measured.
  const admin = new EtcdStore({ endpoints: etcd.endpoint, prefix: PREFIX, requestTimeoutMs: 30_000 });
  const threads: WatcherThread[] = [];
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

    let from = 0;
    for (let i = 0; i < THREADS; i++) {
      const count = Math.floor(WATCHERS / THREADS) + (i < WATCHERS % THREADS ? 1 : 0);
      const stores = Math.max(1, Math.round((STORES * count) / WATCHERS));
      threads.push(new WatcherThread({ endpoint: etcd.endpoint, prefix: PREFIX, from, count, stores }));
      from += count;
    }
    const ready = await Promise.all(threads.map((t) => t.next<Extract<FromWatchers, { type: 'ready' }>>('ready', 300_000)));
    say(`  ${WATCHERS} watchers serving (slowest thread started them in ${Math.round(Math.max(...ready.map((r) => r.startMs)))} ms)`);

    // What `status --wait` sees: every node's own record under nodes/.
    const reported = new Map<string, number>();
    let reportTarget = 0;
    let reportedDone: ((at: number) => void) | undefined;
    const countReported = () => {
      let n = 0;
      for (const v of reported.values()) if (v >= reportTarget) n++;
      return n;
    };
    const nodesWatch = await admin.watch(NODES_PREFIX, (e) => {
      if (e.type === 'reset') reported.clear();
      else if (e.type === 'delete') reported.delete(e.key);
      else reported.set(e.key, (JSON.parse(e.value) as NodeRecord).version ?? 0);
      if (reportedDone && countReported() === WATCHERS + PROCESSES) reportedDone(now());
    });

    const samples: ApplySample[] = [];
    const perWatcher: number[] = [];
    try {
      for (let i = 0; i < WARMUP_APPLIES + APPLIES; i++) {
        if (Date.now() > deadline) {
          say(`  budget of ${BUDGET_MS / 1000}s reached after ${samples.length} measured applies`);
          break;
        }
        const live = await admin.get('config/current');
        const version = (live ? (JSON.parse(live) as { version: number }).version : 0) + 1;
        await Promise.all(threads.map((t) => t.next(`expecting:${version}`, 10_000, { type: 'expect', version })));
        const swaps = Promise.all(threads.map((t) => t.next<Extract<FromWatchers, { type: 'swapped' }>>(`swapped:${version}`, PER_APPLY_TIMEOUT_MS)));
        reportTarget = version;
        const reports = new Promise<number>((resolve) => (reportedDone = resolve));
        const until = Date.now() + PER_APPLY_TIMEOUT_MS;

        const t0 = now();
        const result = await apply();
        const commitMs = now() - t0;
        if (result.version !== version) throw new Error(`applied version ${result.version}, expected ${version}`);
        const [threadSwaps, seen, reportedAt] = await Promise.all([
          swaps,
          Promise.all(admins.map((url) => processServing(url, version, until))),
          Promise.race([reports, new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`nodes/ did not all report ${version}`)), PER_APPLY_TIMEOUT_MS).unref())]),
        ]);
        reportedDone = undefined;
        if (i < WARMUP_APPLIES) continue;
        const watcherMs = threadSwaps.flatMap((s) => Array.from(s.at, (at) => at - t0));
        perWatcher.push(...watcherMs);
        const watchersAllMs = Math.max(...watcherMs);
        const processesAllMs = Math.max(0, ...seen.map((at) => at - t0));
        samples.push({
          version,
          commitMs: round(commitMs),
          watchersP50Ms: round(pct(watcherMs, 50)),
          watchersAllMs: round(watchersAllMs),
          processesAllMs: round(processesAllMs),
          allMs: round(Math.max(watchersAllMs, processesAllMs)),
          reportedAllMs: round(reportedAt - t0),
        });
        say(`  apply ${samples.length}/${APPLIES}: all serving after ${samples.at(-1)!.allMs} ms`);
      }
    } finally {
      await nodesWatch.close();
    }

    const summary = (key: keyof ApplySample) => {
      const values = samples.map((s) => s[key]);
      return { p50: round(pct(values, 50)), p99: round(pct(values, 99)), max: round(Math.max(...values)) };
    };
    const table: Record<string, { p50: number; p99: number; max: number }> = {
      'apply → etcd commit': summary('commitMs'),
      [`apply → median of ${WATCHERS} watchers serving`]: summary('watchersP50Ms'),
      [`apply → all ${WATCHERS} watchers serving`]: summary('watchersAllMs'),
      [`apply → all ${PROCESSES} edge processes serving (HTTP /config)`]: summary('processesAllMs'),
      'apply → every node serving': summary('allMs'),
      'apply → every nodes/<id> record says so (status --wait)': summary('reportedAllMs'),
      'one watcher (every watcher × apply)': { p50: round(pct(perWatcher, 50)), p99: round(pct(perWatcher, 99)), max: round(Math.max(...perWatcher)) },
    };
    const width = Math.max(...Object.keys(table).map((k) => k.length));
    const lines = [
      `| ${`ms, over ${samples.length} applies`.padEnd(width)} |    p50 |    p99 |    max |`,
      `|${'-'.repeat(width + 2)}|-------:|-------:|-------:|`,
      ...Object.entries(table).map(([k, v]) => `| ${k.padEnd(width)} | ${String(v.p50).padStart(6)} | ${String(v.p99).padStart(6)} | ${String(v.max).padStart(6)} |`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const out = {
      command: `npm run bench:propagation${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, memGb: Math.round(totalmem() / 2 ** 30), loadavgAtStart: loadAtStart, loadavgAtEnd: loadavg().map(round), node: process.version, etcd: etcdVersion },
      setup: {
        watchers: WATCHERS,
        watcherThreads: THREADS,
        etcdClients: STORES,
        processes: PROCESSES,
        processKind: 'meshgate edge, one process each, polled on its admin /config every 5 ms',
        applies: samples.length,
        warmupApplies: WARMUP_APPLIES,
        config: 'compose/routes.yaml, alternating with a copy that has one more route',
      },
      summaryMs: table,
      target: { p99UnderMs: 1000, aimMs: 100 },
      samples,
      durationS: Math.round((Date.now() - startedAt) / 1000),
    };
    mkdirSync(dirname(flags.out!), { recursive: true });
    writeFileSync(flags.out!, `${JSON.stringify(out, null, 2)}\n`);
    say(`  wrote ${flags.out} (${out.durationS}s)`);
  } finally {
    await Promise.all(threads.map((t) => t.stop()));
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
