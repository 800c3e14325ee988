// `npm run bench`: the direct upstream, nginx as a reverse proxy, a bare Node proxy, the meshgate sidecar (full
// inbound chain) and edge → sidecar, measured in one run, alternating, each proxy in its own pinned process.
// Writes test/bench/results/latest.{md,json}. How to read it: docs/benchmark.md.
//
// Env: MESHGATE_BENCH_ROUNDS (default 3), MESHGATE_BENCH_SECONDS (per measurement, default 4),
//      MESHGATE_BENCH_CONNECTIONS (saturation, default 64), MESHGATE_BENCH_RATES (default "1000,5000").
import { spawnSync, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request as undiciRequest } from 'undici';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js';
import { CAN_PIN, buildEntries, cpuTimeUs, peakRssMb, resetPeakRss, spawnEntry, stopAll, type BenchChild } from './bench-process.js';
import { NGINX, startNginxProxy, startNginxUpstream } from './nginx.js';
import { WRK, paced, saturate, summarize, type SaturationResult, type Target } from './load.js';
import type { MicroResults } from './micro.js';
import { BENCH_PATH } from './bench-config.js';
import { sidecarsOnEtcd } from './sidecar-on-etcd.js';

const ROUNDS = Number(process.env.MESHGATE_BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.MESHGATE_BENCH_SECONDS ?? 4);
const CONNECTIONS = Number(process.env.MESHGATE_BENCH_CONNECTIONS ?? 64);
const RATES = (process.env.MESHGATE_BENCH_RATES ?? '1000,5000').split(',').map(Number);
/**
 * Seconds at each fixed rate before latencies are recorded. The rate runs follow a saturation run, and a Node
 * process leaving saturation deoptimizes and recompiles (~60–80 functions as the 64 saturating connections close):
 * for the first second or so the sidecar's p99 was 50–360 ms, then 6–15 ms. That is a transient, not the latency
 * at the rate.
 */
const SETTLE_SECONDS = 1.5;
const TRACE_RATIO = '0.01';
/** Above this share of CPU time stolen by the hypervisor, the run is marked as taken on a busy machine. */
const BUSY_STEAL_PERCENT = 5;
/** Load generator and upstream on core 0, the proxy under test alone on core 1. */
const LOAD_CORE = CAN_PIN ? 0 : undefined;
const PROXY_CORE = CAN_PIN ? 1 : undefined;

/** The documented low-memory setting for sidecars (docs/operations.md): V8's young generation capped at 2 × 4 MB. */
const LOW_MEMORY_NODE_OPTIONS = '--max-semi-space-size=4';

const TARGETS = {
  direct: 'direct upstream',
  nginx: 'nginx reverse proxy (1 worker, keepalive)',
  bare: 'bare Node proxy (http + undici Pool.stream)',
  sidecar: 'meshgate sidecar, full inbound chain',
  sidecar_lowmem: `meshgate sidecar, full inbound chain, NODE_OPTIONS=${LOW_MEMORY_NODE_OPTIONS}`,
  edge_sidecar: 'meshgate edge → sidecar',
} as const;
type TargetName = keyof typeof TARGETS;

interface RateFigures {
  rate: number;
  achievedRps: number[];
  errors: number;
  samples: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  /** Over the direct upstream at the same rate (µs). */
  addedP50Us?: number;
  addedP99Us?: number;
  addedP999Us?: number;
}

interface TargetFigures {
  description: string;
  url: string;
  /** Request headers (the bearer token of the sidecar behind it). */
  headers: Record<string, string>;
  /** Processes whose peak RSS is reported. */
  pids: number[];
  /** Processes on the request path whose CPU time is counted (edge_sidecar: edge + sidecar; direct: the upstream). */
  cpuPids: number[];
  /** CPU time of cpuPids per request served at saturation, per round (µs): robust to other load on the machine. */
  cpuUsPerRequest: number[];
  saturation: SaturationResult[];
  rps: number;
  saturationErrors: number;
  rates: RateFigures[];
  /** Peak resident set during the measured rounds (after the first warm-up), summed over `pids`. */
  peakRssMb?: number;
  /** Peak from start-up through the first warm-up (module loading, the JIT's first burst), before the reset. */
  warmupPeakRssMb?: number;
  note?: string;
  /** Fixed-rate runs skipped because the rate was above the round's saturation throughput. */
  skippedRates: { round: number; rate: number }[];
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const round1 = (v: number) => Math.round(v * 10) / 10;
const round3 = (v: number) => Math.round(v * 1000) / 1000;

const mb = (v: number | undefined) => (v === undefined ? '—' : `${v} MB`);

/** Peak RSS (MB) summed over processes; undefined without /proc. */
function sumRss(pids: number[]): number | undefined {
  const rss = pids.map(peakRssMb).filter((v): v is number => v !== undefined);
  return rss.length ? round1(rss.reduce((a, b) => a + b, 0)) : undefined;
}

async function check(name: string, target: Target, child?: BenchChild<unknown>): Promise<void> {
  const res = await undiciRequest(target.url, { headers: target.headers });
  const body = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${name} answered ${res.statusCode}: ${body}\n${child?.stderrTail() ?? ''}`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'meshgate-bench-'));
  let otlp: OtlpReceiver | undefined;
  let closeEtcd: (() => Promise<void>) | undefined;
  let sidecarProcess = '';
  const cleanup = async () => {
    await stopAll();
    await closeEtcd?.();
    await otlp?.close();
    await rm(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    log('interrupted: stopping every child');
    void cleanup().finally(() => process.exit(130));
  });
  try {
    // The runner (paced load generator, OTLP sink) shares core 0 with wrk and the upstream.
    if (CAN_PIN) spawnSync('taskset', ['-pc', '0', String(process.pid)]);
    log(`cores: ${cpus().length}, pinning: ${CAN_PIN ? 'load generator + upstream on core 0, proxy under test on core 1' : 'unavailable'}`);
    log(`load generator: ${WRK ? `wrk (${WRK})` : 'autocannon (wrk not installed)'}; fixed rates: paced open-loop generator`);
    if (!NGINX) log('nginx is not installed: the upstream is a Node server and the nginx reverse-proxy target is skipped');

    const runtime = await buildEntries();
    log(`child processes run ${runtime === 'dist' ? 'compiled JS from dist/ (tsc)' : 'TypeScript through tsx (build failed or MESHGATE_BENCH_TSX=1)'}`);
    const load0 = loadavg();
    const cpu0 = machineCpu();
    otlp = await startOtlpReceiver();
    const meshEnv = { MESHGATE_TRACE_SAMPLE_RATIO: TRACE_RATIO, OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint, MESHGATE_LOG_LEVEL: 'info' };

    log('micro-benchmarks');
    const micro = (await spawnEntry<{ type: 'ready'; results: MicroResults }>('./micro.ts', [], { core: PROXY_CORE, timeoutMs: 120_000 })).ready.results;

    const upstream = NGINX
      ? await startNginxUpstream(dir, LOAD_CORE)
      : await spawnEntry<{ type: 'ready'; port: number }>('./targets/node-upstream.ts', [], { core: LOAD_CORE }).then((c) => ({ port: c.ready.port, child: c }));
    const upstreamPort = upstream.port;
    const nginxProxy = NGINX ? await startNginxProxy(dir, upstreamPort, PROXY_CORE) : undefined;
    const bare = await spawnEntry<{ type: 'ready'; port: number }>('./bare-proxy.ts', [String(upstreamPort)], { core: PROXY_CORE });
    // The sidecar as deployed (the CLI on etcd) when etcd can be started; else the same chain on an in-memory store.
    const onEtcd = await sidecarsOnEtcd(upstreamPort, LOAD_CORE).catch((err: Error) => {
      log(`etcd unavailable (${err.message.split('\n')[0]}): the sidecars run targets/sidecar.ts on an in-memory store`);
      return undefined;
    });
    closeEtcd = onEtcd?.close;
    sidecarProcess = onEtcd ? 'meshgate sidecar CLI process on a real etcd' : 'targets/sidecar.ts on an in-memory store (etcd unavailable)';
    log(`sidecars: ${sidecarProcess}`);
    const lowmemEnv = { ...meshEnv, NODE_OPTIONS: [process.env.NODE_OPTIONS, LOW_MEMORY_NODE_OPTIONS].filter(Boolean).join(' ') };
    const startSidecar = async (name: string, env: NodeJS.ProcessEnv, core = PROXY_CORE) => {
      if (onEtcd) {
        const child = await onEtcd.start(join(dir, name), { core, env });
        return { ...child, ready: { ...child.ready, token: onEtcd.token } };
      }
      // Each in-memory sidecar signs with keys of its own store: its own token.
      return spawnEntry<{ type: 'ready'; port: number; token: string }>('./targets/sidecar.ts', [String(upstreamPort), dir], { core, env });
    };
    const sidecar = await startSidecar('sidecar', meshEnv);
    const sidecarLowmem = await startSidecar('sidecar-lowmem', lowmemEnv);
    // The edge's sidecar sits beside the upstream (core 0), as a sidecar shares its pod with its app: edge and
    // sidecar on one core would take turns on every request, a cost no deployment pays.
    const edgeSidecar = await startSidecar('edge-sidecar', meshEnv, LOAD_CORE);
    const edge = await spawnEntry<{ type: 'ready'; port: number }>('./targets/edge.ts', [String(edgeSidecar.ready.port), dir], { core: PROXY_CORE, env: meshEnv });

    // Every target gets the same request, bearer token included (a cached JWT: the same token every request).
    const headers = { authorization: `Bearer ${sidecar.ready.token}`, accept: 'application/json' };
    const edgeHeaders = { authorization: `Bearer ${edgeSidecar.ready.token}`, accept: 'application/json' };
    const lowmemHeaders = { authorization: `Bearer ${sidecarLowmem.ready.token}`, accept: 'application/json' };
    const url = (port: number) => `http://127.0.0.1:${port}${BENCH_PATH}`;
    const figures = new Map<TargetName, TargetFigures>();
    const add = (name: TargetName, port: number, pids: number[], cpuPids: number[], note?: string, requestHeaders = headers) =>
      figures.set(name, {
        description: TARGETS[name],
        url: url(port),
        headers: requestHeaders,
        pids,
        cpuPids,
        cpuUsPerRequest: [],
        saturation: [],
        rps: 0,
        saturationErrors: 0,
        rates: RATES.map((rate) => ({ rate, achievedRps: [], errors: 0, samples: 0, p50Us: NaN, p99Us: NaN, p999Us: NaN, maxUs: NaN })),
        note,
        skippedRates: [],
      });
    add('direct', upstreamPort, [], [upstream.child.pid]);
    if (nginxProxy) add('nginx', nginxProxy.port, [nginxProxy.child.pid], [nginxProxy.child.pid]);
    add('bare', bare.ready.port, [bare.pid], [bare.pid]);
    add('sidecar', sidecar.ready.port, [sidecar.pid], [sidecar.pid]);
    add('sidecar_lowmem', sidecarLowmem.ready.port, [sidecarLowmem.pid], [sidecarLowmem.pid], 'the same sidecar with a smaller young generation: less memory, more frequent scavenges', lowmemHeaders);
    add(
      'edge_sidecar',
      edge.ready.port,
      [edge.pid],
      [edge.pid, edgeSidecar.pid],
      CAN_PIN
        ? 'edge on the proxy core, its sidecar on core 0 beside the upstream and the load generator; RSS is the edge process, CPU/request is edge + sidecar'
        : 'edge and its sidecar are separate processes; RSS is the edge process, CPU/request is edge + sidecar',
      edgeHeaders,
    );
    for (const [name, f] of figures) await check(name, { url: f.url, headers: f.headers });

    const samples = new Map<string, Float64Array[]>();
    const names = [...figures.keys()];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate: each round starts one target later, so no target always runs first (or right after another).
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const name of order) {
        const f = figures.get(name)!;
        const target = { url: f.url, headers: f.headers };
        log(`round ${round + 1}/${ROUNDS}: ${name}`);
        // Warm-up (JIT, pools, heap growth): the mesh processes need a few seconds before their first figures.
        await saturate(target, round === 0 ? 3 : 1, CONNECTIONS, LOAD_CORE);
        if (round === 0 && f.pids.length) {
          f.warmupPeakRssMb = sumRss(f.pids);
          for (const pid of f.pids) resetPeakRss(pid);
        }
        const cpu0 = cpuTimeUs(f.cpuPids);
        const sat = await saturate(target, SECONDS, CONNECTIONS, LOAD_CORE);
        const cpu1 = cpuTimeUs(f.cpuPids);
        f.saturation.push(sat);
        if (cpu0 !== undefined && cpu1 !== undefined && sat.requests > 0) f.cpuUsPerRequest.push(round1((cpu1 - cpu0) / sat.requests));
        log(`  ${Math.round(sat.rps)} req/s at ${CONNECTIONS} connections (p50 ${sat.p50Us} µs, p99 ${sat.p99Us} µs, errors ${sat.errors})`);
        for (const rate of RATES) {
          // A fixed rate above what the target sustains measures its queue, not its latency: skip it, say so.
          if (sat.rps < rate * 1.05) {
            log(`  @${rate}/s: skipped (above this round's saturation throughput)`);
            f.skippedRates.push({ round: round + 1, rate });
            continue;
          }
          const r = await paced(target, rate, SECONDS, SETTLE_SECONDS);
          const key = `${name}@${rate}`;
          samples.set(key, [...(samples.get(key) ?? []), r.samples]);
          const figure = f.rates.find((x) => x.rate === rate)!;
          figure.achievedRps.push(r.achievedRps);
          figure.errors += r.errors;
          log(`  @${rate}/s: p50 ${r.p50Us} µs, p99 ${r.p99Us} µs, p99.9 ${r.p999Us} µs, errors ${r.errors}`);
        }
      }
    }

    // Aggregate: mean req/s over rounds; percentiles over every sample of every round.
    for (const [name, f] of figures) {
      f.rps = Math.round(f.saturation.reduce((a, s) => a + s.rps, 0) / f.saturation.length);
      f.saturationErrors = f.saturation.reduce((a, s) => a + s.errors, 0);
      for (const r of f.rates) {
        const parts = samples.get(`${name}@${r.rate}`) ?? [];
        const all = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
        let offset = 0;
        for (const p of parts) {
          all.set(p, offset);
          offset += p.length;
        }
        Object.assign(r, summarize(all), { samples: all.length });
      }
      if (f.pids.length) f.peakRssMb = sumRss(f.pids);
    }
    const direct = figures.get('direct')!;
    for (const f of figures.values()) {
      for (const r of f.rates) {
        const d = direct.rates.find((x) => x.rate === r.rate)!;
        r.addedP50Us = round1(r.p50Us - d.p50Us);
        r.addedP99Us = round1(r.p99Us - d.p99Us);
        r.addedP999Us = round1(r.p999Us - d.p999Us);
      }
    }

    const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);
    const cpu = (n: TargetName) => mean(figures.get(n)?.cpuUsPerRequest ?? []);
    const cpuRatio = (a: TargetName, b: TargetName) => (cpu(a) > 0 && cpu(b) > 0 ? round3(cpu(b) / cpu(a)) : null);
    const rps = (n: TargetName) => figures.get(n)?.rps;
    const ratio = (a: TargetName, b: TargetName) => (rps(a) && rps(b) ? round3(rps(a)! / rps(b)!) : null);
    const ratios = {
      sidecar_vs_bare: ratio('sidecar', 'bare'),
      sidecar_vs_nginx: ratio('sidecar', 'nginx'),
      edge_sidecar_vs_bare: ratio('edge_sidecar', 'bare'),
      bare_vs_nginx: ratio('bare', 'nginx'),
      sidecar_vs_direct: ratio('sidecar', 'direct'),
      sidecar_lowmem_vs_bare: ratio('sidecar_lowmem', 'bare'),
    };
    // The same ratios from CPU time per request (1 / cost): what req/s on a dedicated core would give, and
    // much less disturbed than req/s when the machine is busy with other work.
    const cpuRatios = {
      sidecar_vs_bare: cpuRatio('sidecar', 'bare'),
      sidecar_vs_nginx: cpuRatio('sidecar', 'nginx'),
      edge_sidecar_vs_bare: cpuRatio('edge_sidecar', 'bare'),
      bare_vs_nginx: cpuRatio('bare', 'nginx'),
    };
    const at = (n: TargetName, rate: number) => figures.get(n)?.rates.find((r) => r.rate === rate);
    /** A check on a figure that may not exist (rate skipped, nginx absent): null value, null verdict. */
    const checkOf = (target: string, value: number | null | undefined, limit: number, atLeast: boolean) => {
      const v = value === undefined || value === null || Number.isNaN(value) ? null : value;
      return { target, value: v, limit, holds: v === null ? null : atLeast ? v >= limit : v <= limit };
    };
    const targets = [
      checkOf('sidecar req/s ≥ 85% of bare', ratios.sidecar_vs_bare, 0.85, true),
      checkOf('sidecar req/s ≥ 30% of nginx', ratios.sidecar_vs_nginx, 0.3, true),
      checkOf('(CPU-time basis) sidecar ≥ 85% of bare', cpuRatios.sidecar_vs_bare, 0.85, true),
      checkOf('(CPU-time basis) sidecar ≥ 30% of nginx', cpuRatios.sidecar_vs_nginx, 0.3, true),
      checkOf('sidecar added p99 @1000/s ≤ 1 ms (µs)', at('sidecar', 1000)?.addedP99Us, 1000, false),
      checkOf('edge → sidecar added p99 @1000/s ≤ 2 ms (µs)', at('edge_sidecar', 1000)?.addedP99Us, 2000, false),
      checkOf('cached auth stage ≤ 5 µs', micro.authCachedUs, 5, false),
      checkOf('local quota stage ≤ 2 µs', micro.quotaLocalUs, 2, false),
      checkOf('sidecar peak RSS under load ≤ 100 MB', figures.get('sidecar')!.peakRssMb, 100, false),
      checkOf(`sidecar peak RSS under load ≤ 100 MB (NODE_OPTIONS=${LOW_MEMORY_NODE_OPTIONS})`, figures.get('sidecar_lowmem')!.peakRssMb, 100, false),
    ];

    let commit = '';
    try {
      commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: fileURLToPath(new URL('../..', import.meta.url)) }).toString().trim();
    } catch {
      // not a git checkout
    }
    const spans = otlp.spans.length;
    const result = {
      date: new Date().toISOString(),
      commit,
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      pinning: CAN_PIN ? { loadGeneratorAndUpstream: 0, proxyUnderTest: 1 } : null,
      loadGenerator: {
        saturation: WRK ? 'wrk -t1' : 'autocannon',
        fixedRate: `paced open-loop (undici Pool, 64 connections, 1 ms ticks), recorded after ${SETTLE_SECONDS} s at the rate`,
      },
      upstream: NGINX ? 'nginx return 200 (1 worker)' : 'node:http server',
      nginxProxy: Boolean(NGINX),
      rounds: ROUNDS,
      secondsPerMeasurement: SECONDS,
      connections: CONNECTIONS,
      rates: RATES,
      runtime: runtime === 'dist' ? 'children: compiled JS (tsc → dist/), plain node' : 'children: TypeScript through tsx (RSS includes the tsx loader thread)',
      loadAverage: { start: load0, end: loadavg() },
      stealPercent: stealPercent(cpu0, machineCpu()),
      tracing: { sampleRatio: Number(TRACE_RATIO), exporter: 'OTLP gRPC to a local sink', spansReceived: spans },
      sidecarProcess,
      accessLog: 'pino JSON lines to stdout, stdout of every mesh process is /dev/null',
      durationSeconds: Math.round((Date.now() - started) / 1000),
      targets: Object.fromEntries(figures),
      ratios,
      cpuRatios,
      micro,
      checks: targets,
    };
    const out = fileURLToPath(new URL('./results/', import.meta.url));
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
    await writeFile(join(out, 'latest.md'), markdown(result, figures));
    log(`done in ${result.durationSeconds} s: test/bench/results/latest.md and latest.json`);
    process.stdout.write(markdown(result, figures));
  } finally {
    await cleanup();
  }
}

/** Jiffies of all CPUs from /proc/stat (Linux): total and stolen; undefined elsewhere. */
function machineCpu(): { total: number; steal: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { total: fields.reduce((a, b) => a + b, 0), steal: fields[7] ?? 0 };
  } catch {
    return undefined;
  }
}

function stealPercent(a: ReturnType<typeof machineCpu>, b: ReturnType<typeof machineCpu>): number | null {
  if (!a || !b || b.total <= a.total) return null;
  return Math.round((1000 * (b.steal - a.steal)) / (b.total - a.total)) / 10;
}

function cpuCell(v: number[]): string {
  return v.length ? (v.reduce((a, b) => a + b, 0) / v.length).toFixed(1) : '—';
}

function us(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '—';
  return v >= 10_000 ? `${(v / 1000).toFixed(1)} ms` : `${Math.round(v)} µs`;
}

function markdown(
  r: {
    date: string;
    commit: string;
    node: string;
    cpus: number;
    cpuModel?: string;
    rounds: number;
    secondsPerMeasurement: number;
    connections: number;
    rates: number[];
    durationSeconds: number;
    ratios: Record<string, number | null>;
    cpuRatios: Record<string, number | null>;
    micro: MicroResults;
    checks: { target: string; value: number | null; holds: boolean | null }[];
    tracing: { spansReceived: number };
    loadGenerator: { saturation: string; fixedRate: string };
    upstream: string;
    nginxProxy: boolean;
    runtime: string;
    sidecarProcess: string;
    loadAverage: { start: number[]; end: number[] };
    stealPercent: number | null;
  },
  figures: Map<TargetName, TargetFigures>,
): string {
  const lines: string[] = [];
  lines.push(`# meshgate bench — ${r.date}`, '');
  lines.push(
    `commit ${r.commit || '?'} · Node ${r.node} · ${r.cpus} cores (${r.cpuModel ?? '?'}) · upstream: ${r.upstream} · saturation: ${r.loadGenerator.saturation}, ${r.connections} connections · fixed rates: ${r.loadGenerator.fixedRate} · ${r.rounds} rounds × ${r.secondsPerMeasurement} s per measurement · run took ${r.durationSeconds} s`,
    '',
  );
  const steal = r.stealPercent === null ? '' : ` · CPU stolen by the hypervisor during the run ${r.stealPercent}%`;
  lines.push(`${r.runtime} · sidecars: ${r.sidecarProcess} · load average at start ${r.loadAverage.start.map((v) => v.toFixed(1)).join(' ')}, at end ${r.loadAverage.end.map((v) => v.toFixed(1)).join(' ')}${steal}`, '');
  // The run itself keeps both cores busy, so the load average at its end says nothing about other work: what
  // does is the load before it and the time the hypervisor gave to other guests during it.
  if (r.loadAverage.start[0] > r.cpus || (r.stealPercent ?? 0) > BUSY_STEAL_PERCENT)
    lines.push('> **The machine was busy with other work during this run** (load average above the core count before it, or more than 5% of CPU time stolen by the hypervisor during it): absolute figures are depressed and noisy; the same-run ratios are the figures to read, and even they are less reliable.', '');
  if (!r.nginxProxy) lines.push('nginx is not installed: the nginx reverse-proxy target was skipped.', '');
  const rateCols = r.rates.flatMap((rate) => [`@${rate}/s p50 / p99 / p99.9`, `added p99 @${rate}/s`]);
  lines.push(`| target | req/s | vs bare | CPU µs/req | sat. p50 / p99 | ${rateCols.join(' | ')} | peak RSS under load | warm-up peak | errors |`);
  lines.push(`|---|---:|---:|---:|---:|${r.rates.map(() => '---:|---:|').join('')}---:|---:|---:|`);
  const bare = figures.get('bare')?.rps;
  for (const [name, f] of figures) {
    const sat50 = f.saturation.reduce((a, s) => a + s.p50Us, 0) / f.saturation.length;
    const sat99 = f.saturation.reduce((a, s) => a + s.p99Us, 0) / f.saturation.length;
    const sustained = (x: RateFigures) => Math.min(...x.achievedRps) >= 0.95 * x.rate;
    const cells = f.rates.flatMap((x) => [
      x.samples === 0 ? 'skipped: above saturation' : `${us(x.p50Us)} / ${us(x.p99Us)} / ${us(x.p999Us)}${sustained(x) ? '' : ' (rate not sustained)'}`,
      name === 'direct' ? '—' : us(x.addedP99Us),
    ]);
    const errors = f.saturationErrors + f.rates.reduce((a, x) => a + x.errors, 0);
    lines.push(
      `| ${name} | ${f.rps.toLocaleString('en-US')} | ${bare ? (f.rps / bare).toFixed(2) : '—'} | ${cpuCell(f.cpuUsPerRequest)} | ${us(sat50)} / ${us(sat99)} | ${cells.join(' | ')} | ${mb(f.peakRssMb)} | ${mb(f.warmupPeakRssMb)} | ${errors} |`,
    );
  }
  lines.push('', '**Ratios** (req/s at saturation): ' + Object.entries(r.ratios).map(([k, v]) => `\`${k}\` ${v ?? '—'}`).join(' · '), '');
  lines.push('**Ratios from CPU time per request** (cost of b / cost of a): ' + Object.entries(r.cpuRatios).map(([k, v]) => `\`${k}\` ${v ?? '—'}`).join(' · '), '');
  const m = r.micro;
  lines.push(
    `**Micro** (µs/request, in-process): cached auth stage ${m.authCachedUs} · auth cache miss (jose ES256) ${m.authMissUs} · scope-authz ${m.scopeAuthzUs} · local quota ${m.quotaLocalUs} · route lookup (50 routes) ${m.routeLookupUs} · whole sync chain before forward ${m.chainSyncUs} · access-log stage ${m.accessLogUs}`,
    '',
  );
  lines.push(`Trace spans received by the OTLP sink at 1% sampling: ${r.tracing.spansReceived}.`, '');
  lines.push('| target (issue 9) | value | holds |', '|---|---:|:---:|');
  for (const c of r.checks) lines.push(`| ${c.target} | ${c.value ?? '—'} | ${c.holds === null ? 'not measured' : c.holds ? 'yes' : 'no'} |`);
  lines.push('', 'How to read this: docs/benchmark.md.', '');
  return lines.join('\n');
}

main().catch(async (err) => {
  log(`failed: ${(err as Error).stack ?? err}`);
  await stopAll();
  process.exit(1);
});
