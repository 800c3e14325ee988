// Load generators: saturation with wrk (parsed from --latency) or autocannon when wrk is absent, and an
// open-loop paced generator for the fixed-rate latency runs (requests sent on schedule whatever came back).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Pool } from 'undici';
import { createRequire } from 'node:module';
import { pinned } from './bench-process.js';

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
// autocannon ships no types: the few fields used here, typed.
const autocannon = createRequire(import.meta.url)('autocannon') as (o: {
  url: string;
  connections: number;
  duration: number;
  headers: Record<string, string>;
}) => Promise<AutocannonResult>;

export const WRK = ['/usr/bin/wrk', '/usr/local/bin/wrk'].find((p) => existsSync(p));

export interface SaturationResult {
  rps: number;
  requests: number;
  /** Non-2xx responses and socket errors: a proxy that answers errors fast is not fast. */
  errors: number;
  /** Latency under saturation, µs (wrk prints 50/75/90/99). */
  p50Us: number;
  p99Us: number;
}

export interface Target {
  url: string;
  headers: Record<string, string>;
}

function toUs(value: string, unit: string): number {
  const v = Number(value);
  return unit === 'us' ? v : unit === 'ms' ? v * 1e3 : unit === 's' ? v * 1e6 : unit === 'm' ? v * 6e7 : NaN;
}

/** Parse wrk's report (with --latency). Exported for the unit of this parser being checked by hand. */
export function parseWrk(out: string): SaturationResult {
  const pct = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([0-9.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? toUs(m[1], m[2]) : NaN;
  };
  const rps = Number(/Requests\/sec:\s+([0-9.]+)/.exec(out)?.[1] ?? NaN);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socket = socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return { rps, requests, errors: non2xx + socket, p50Us: pct('50'), p99Us: pct('99') };
}

export async function saturate(target: Target, seconds: number, connections: number, core: number | undefined): Promise<SaturationResult> {
  if (WRK) {
    const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '5s'];
    for (const [name, value] of Object.entries(target.headers)) args.push('-H', `${name}: ${value}`);
    args.push(target.url);
    const [cmd, argv] = pinned(core, WRK, args);
    const out = await new Promise<string>((resolve, reject) =>
      execFile(cmd, argv, { timeout: (seconds + 15) * 1000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    return parseWrk(out);
  }
  const r = await autocannon({ url: target.url, connections, duration: seconds, headers: target.headers });
  return {
    rps: r.requests.average,
    requests: r.requests.total,
    errors: r.non2xx + r.errors + r.timeouts,
    // autocannon records whole milliseconds.
    p50Us: r.latency.p50 * 1e3,
    p99Us: r.latency.p99 * 1e3,
  };
}

export interface PacedResult {
  rate: number;
  achievedRps: number;
  sent: number;
  errors: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  /** Latencies (µs) of every completed request, for merging rounds. */
  samples: Float64Array;
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

export function summarize(samples: Float64Array): { p50Us: number; p99Us: number; p999Us: number; maxUs: number } {
  const sorted = Float64Array.from(samples).sort();
  const r = (v: number) => Math.round(v * 10) / 10;
  return { p50Us: r(percentile(sorted, 50)), p99Us: r(percentile(sorted, 99)), p999Us: r(percentile(sorted, 99.9)), maxUs: r(sorted[sorted.length - 1] ?? NaN) };
}

/**
 * Open loop at `rate` req/s for `settleSeconds + seconds`: each 1 ms tick sends what the schedule says is due, on a
 * keep-alive pool of up to 64 connections. Latency is from the moment a request is handed to the pool to its last
 * body byte, in µs, recorded for the requests sent after the first `settleSeconds`: the latency at that rate, not
 * the target's way out of whatever ran before (a Node process leaving saturation deoptimizes and recompiles, and
 * for a second or so its p99 is tens to hundreds of ms). (autocannon's overallRate sends each second's budget as a
 * burst and records whole milliseconds, so it cannot resolve a sub-millisecond p99; this generator can.)
 */
export async function paced(target: Target, rate: number, seconds: number, settleSeconds = 0): Promise<PacedResult> {
  const url = new URL(target.url);
  const pool = new Pool(url.origin, { connections: 64, pipelining: 1, keepAliveTimeout: 30_000 });
  const unrecorded = Math.round(rate * settleSeconds);
  const total = unrecorded + Math.round(rate * seconds);
  const samples = new Float64Array(total - unrecorded);
  let sent = 0;
  let done = 0;
  let ok = 0;
  let answered = 0;
  let errors = 0;
  const path = url.pathname + url.search;
  const started = performance.now();
  let unfinished = 0;
  await new Promise<void>((resolve) => {
    // Bounded whatever the target does: stop sending at the end of the window, wait at most 5 s more.
    const giveUp = setTimeout(() => {
      unfinished = total - done;
      resolve();
    }, (settleSeconds + seconds) * 1000 + 5_000);
    const finish = () => {
      done++;
      if (done === total) {
        clearTimeout(giveUp);
        resolve();
      }
    };
    const fire = (recorded: boolean) => {
      const t0 = performance.now();
      pool.request({ path, method: 'GET', headers: target.headers }).then(
        async (res) => {
          await res.body.dump();
          if (res.statusCode < 200 || res.statusCode >= 300) errors++;
          else {
            answered++;
            if (recorded) samples[ok++] = (performance.now() - t0) * 1000;
          }
          finish();
        },
        () => {
          errors++;
          finish();
        },
      );
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
      while (sent < due) {
        sent++;
        fire(sent > unrecorded);
      }
      if (sent < total && unfinished === 0) setTimeout(tick, 1);
    };
    tick();
  });
  const elapsed = (performance.now() - started) / 1000;
  if (unfinished) await pool.destroy();
  else await pool.close();
  const kept = samples.subarray(0, ok).slice();
  // Requests never answered within the bound count as errors.
  return { rate, achievedRps: Math.round(answered / elapsed), sent, errors: errors + unfinished, ...summarize(kept), samples: kept };
}
