// Child processes of a bench run: spawned pinned to a core (taskset), ready when they report over IPC,
// peak RSS read from /proc, and every one killed by its pid at the end — also on error or SIGINT.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { reapOnExit } from '../support/reap.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** How child entries run: compiled JS from dist/ (what production runs), or the TypeScript through tsx. */
let runtime: 'dist' | 'tsx' = 'tsx';

/** Compile the child entries to dist/ with tsc (incremental); on failure the children run through tsx. */
export async function buildEntries(): Promise<'dist' | 'tsx'> {
  if (process.env.MESHGATE_BENCH_TSX === '1') return (runtime = 'tsx');
  const tsc = `${ROOT}node_modules/typescript/bin/tsc`;
  // tsc exits non-zero on type errors elsewhere in the tree while still emitting: judge by the files.
  await new Promise<void>((resolve) => execFile(process.execPath, [tsc, '-p', `${ROOT}test/bench/tsconfig.build.json`], { cwd: ROOT }, () => resolve()));
  const entries = ['bare-proxy.ts', 'micro.ts', 'targets/sidecar.ts', 'targets/edge.ts', 'targets/node-upstream.ts', '../../compose/cli.ts'];
  runtime = entries.every((e) => existsSync(compiled(fileURLToPath(new URL(e, import.meta.url))))) ? 'dist' : 'tsx';
  return runtime;
}

/** Where tsc puts a source file of the repository: the same path under dist/, as .js. */
function compiled(source: string): string {
  return source.replace(ROOT, `${ROOT}dist/`).replace(/\.ts$/, '.js');
}

/** The node arguments that run a source file (relative to this folder): its compiled JS, or the TypeScript through tsx. */
export function entryCommand(file: string): string[] {
  const source = fileURLToPath(new URL(file, import.meta.url));
  return runtime === 'dist' ? [compiled(source)] : ['--import', 'tsx', source];
}

const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p));
/** Cores are only pinned when there are at least two and taskset exists. */
export const CAN_PIN = Boolean(TASKSET) && (spawnSync('nproc').stdout?.toString().trim() ?? '1') !== '1';

const live = new Set<ChildProcess>();

/** A command line prefixed with taskset when pinning is possible (taskset execs: the pid is the command's). */
export function pinned(core: number | undefined, command: string, args: string[]): [string, string[]] {
  if (core === undefined || !CAN_PIN) return [command, args];
  return [TASKSET!, ['-c', String(core), command, ...args]];
}

export interface BenchChild<M> {
  pid: number;
  /** The ready message the child sent. */
  ready: M;
  stderrTail(): string;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  core?: number;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Spawn a bench entry (`node dist/test/bench/<file>.js ...args`, or through tsx) and wait for its `{ type: 'ready' }` IPC message. */
export async function spawnEntry<M extends { type: 'ready' }>(file: string, args: string[], o: SpawnOptions = {}): Promise<BenchChild<M>> {
  const entry = entryCommand(file);
  const [command, argv] = pinned(o.core, process.execPath, [...entry, ...args]);
  // stdout to /dev/null: the mesh logs (access log included) are written and discarded, as in production.
  const child = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, ...o.env } });
  return track(child, o.timeoutMs ?? 30_000, entry.join(' '), (resolve, reject) => {
    child.on('message', (m: { type?: string }) => {
      if (m?.type === 'ready') resolve(m as M);
    });
    child.once('exit', (code) => reject(new Error(`${entry} exited with ${code} before it was ready`)));
  });
}

/** Spawn a plain command (nginx) that is ready when `probe` resolves true. */
export async function spawnCommand(command: string, args: string[], probe: () => Promise<boolean>, o: SpawnOptions = {}): Promise<BenchChild<{ type: 'ready' }>> {
  const [cmd, argv] = pinned(o.core, command, args);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...o.env } });
  return track(child, o.timeoutMs ?? 10_000, command, (resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code} before it was ready`)));
    const poll = async () => {
      if (child.exitCode !== null) return;
      if (await probe()) resolve({ type: 'ready' });
      else setTimeout(poll, 50);
    };
    void poll();
  });
}

function track<M>(
  child: ChildProcess,
  timeoutMs: number,
  name: string,
  wait: (resolve: (m: M) => void, reject: (e: Error) => void) => void,
): Promise<BenchChild<M>> {
  live.add(child);
  child.once('exit', () => live.delete(child));
  reapOnExit(child); // last resort: killed by pid when the runner exits or is stopped, for any reason
  let tail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
  });
  return new Promise<BenchChild<M>>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${name} not ready after ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      kill(child);
      reject(new Error(`${err.message}\n${tail}`));
    };
    wait((ready) => {
      clearTimeout(timer);
      resolve({
        pid: child.pid!,
        ready,
        stderrTail: () => tail,
        stop: () => stopChild(child),
      });
    }, fail);
  });
}

function kill(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): void {
  if (child.exitCode === null && child.signalCode === null && child.pid) {
    try {
      process.kill(child.pid, signal);
    } catch {
      // already gone
    }
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  kill(child, 'SIGTERM');
  const timer = setTimeout(() => kill(child, 'SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}

/** Stop every child still running (each by its own pid). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => stopChild(c)));
}

/** The pid and its children (nginx master + worker), one level down. */
export function withChildren(pid: number): number[] {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return [pid, ...(children ? children.split(/\s+/).map(Number) : [])];
  } catch {
    return [pid];
  }
}

/** Peak resident set (VmHWM) in MB, summed over the pid and its direct children; undefined without /proc. */
export function peakRssMb(pid: number): number | undefined {
  let kb = 0;
  let found = false;
  for (const p of withChildren(pid)) {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) {
        kb += Number(m[1]);
        found = true;
      }
    } catch {
      // exited
    }
  }
  return found ? Math.round((kb / 1024) * 10) / 10 : undefined;
}

/**
 * Start a new peak: the kernel resets VmHWM to the current resident set when "5" is written to clear_refs
 * (Linux ≥ 4.0). Used after the warm-up, so the reported peak is the load's, not start-up's or the JIT's first burst.
 */
export function resetPeakRss(pid: number): void {
  for (const p of withChildren(pid)) {
    try {
      writeFileSync(`/proc/${p}/clear_refs`, '5');
    } catch {
      // exited, or no /proc
    }
  }
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

/** CPU time (user + system, µs) used so far by the pids and their direct children; undefined without /proc. */
export function cpuTimeUs(pids: number[]): number | undefined {
  let ticks = 0;
  let found = false;
  for (const pid of pids) {
    for (const p of withChildren(pid)) {
      try {
        const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
        // Fields after the command name (which may contain spaces): utime and stime are the 12th and 13th.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ticks += Number(fields[11]) + Number(fields[12]);
        found = true;
      } catch {
        // exited
      }
    }
  }
  return found ? (ticks * 1e6) / CLK_TCK : undefined;
}
