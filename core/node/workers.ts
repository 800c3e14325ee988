// `--workers N`: run a node's start function in N node:cluster workers sharing its listening ports, restart a
// worker that dies (in the same slot), stop them all on SIGTERM/SIGINT; /metrics merges them (cluster-metrics.ts)
// and /readyz is the node's readiness over all of them.
import cluster from 'node:cluster';
import { UsageError } from '../config/usage-error.js';
import { serveClusterMetrics, workerMetrics } from './cluster-metrics.js';
import { serveClusterReadiness } from './cluster-readiness.js';
import { answer, ask } from './cluster-ipc.js';
import { logger } from '../telemetry/log.js';

/** Workers still running this long after SIGTERM are killed: above the listeners' grace (5 s). */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;

/** A worker's usage error, handed to the primary to say once for the node. */
const USAGE_KIND = 'meshgate:usage-error';

/** Tells a worker its slot (1..N): a replacement takes the slot, hence the node id, of the worker it replaces. */
const SLOT_ENV = 'MESHGATE_WORKER_SLOT';

export interface WorkersOptions {
  /** Environment every worker gets (e.g. the node id they share, chosen once in the primary). */
  env?: Record<string, string>;
  /** Runs once in the primary before the first fork: start-up work the workers would race on. */
  prepare?: () => Promise<void>;
  /** A worker dying more often than this per minute is not restarted (a crash loop; default 10). */
  maxRestartsPerMinute?: number;
  /** Workers still running this long after SIGTERM are killed (default DEFAULT_STOP_TIMEOUT_MS). */
  stopTimeoutMs?: number;
}

/** This worker's slot, 1..N; undefined outside a cluster worker. */
export function workerSlot(): number | undefined {
  return cluster.isWorker ? Number(process.env[SLOT_ENV]) : undefined;
}

/**
 * n ≤ 1: `start()` in this process. Otherwise this process becomes the primary and forks n workers, each of
 * which runs `start()` with its own store watches, caches and pools; node:cluster hands them the listeners'
 * connections (the k-th port-0 listener of every worker is the same port). Resolves in a worker once `start()`
 * has; in the primary once the workers are forked.
 */
/** A worker's exit code for a usage error (the CLI's own, DESIGN §4). */
const USAGE_EXIT = 2;

export async function runWorkers(n: number, start: () => Promise<void>, options: WorkersOptions = {}): Promise<void> {
  const log = logger('workers');
  if (cluster.isWorker) {
    workerMetrics();
    // A worker that cannot start exits, so the primary replaces it (or gives up on a crash loop).
    return start().catch((err: Error) => {
      // A usage error (a port taken, a certificate file missing) is the same in every worker: the primary says it
      // once, as a single process would (workers each writing it raced the primary's stop), and exit 2 tells it
      // not to start another. The worker exits once the primary has it; said here only if the primary is gone (one
      // merely slow, on a machine busy starting every worker, still says it when it gets it).
      if (err instanceof UsageError) {
        const said = ask(USAGE_KIND, 5_000, undefined, err.message);
        const sayIfAlone = () => void (process.connected || process.stderr.write(`meshgate: ${err.message}\n`));
        return said.catch(sayIfAlone).then(() => process.exit(USAGE_EXIT));
      }
      log.error({ err: err.message, slot: workerSlot() }, 'worker failed to start');
      process.exit(1);
    });
  }
  if (n <= 1) return start();

  await options.prepare?.();
  serveClusterMetrics();
  const maxRestarts = options.maxRestartsPerMinute ?? 10;
  const restarts: number[] = [];
  const slots = new Map<number, number>(); // worker id → slot
  let stopping = false;
  let exitCode = 0;
  serveClusterReadiness((worker) => slots.get(worker.id));
  let usageSaid = false;
  answer(USAGE_KIND, (_worker, message) => {
    if (!usageSaid) process.stderr.write(`meshgate: ${String(message)}\n`);
    usageSaid = true;
  });

  const fork = (slot: number) => slots.set(cluster.fork({ ...options.env, [SLOT_ENV]: String(slot) }).id, slot);
  cluster.on('exit', (worker, code, signal) => {
    const slot = slots.get(worker.id) ?? 0;
    slots.delete(worker.id);
    if (stopping) {
      if (slots.size === 0) process.exit(exitCode);
      return;
    }
    if (code === USAGE_EXIT) {
      // Restarting would fail the same way (it crash-looped until the restart limit, then exited 1).
      exitCode = USAGE_EXIT;
      stop('SIGTERM');
      if (slots.size === 0) process.exit(exitCode);
      return;
    }
    const now = Date.now();
    while (restarts.length && restarts[0] < now - 60_000) restarts.shift();
    if (restarts.length >= maxRestarts) {
      log.error({ pid: worker.process.pid, slot, code, signal }, 'worker died; too many restarts in the last minute, not restarting');
      if (slots.size === 0) process.exit(1);
      return;
    }
    restarts.push(now);
    log.warn({ pid: worker.process.pid, slot, code, signal }, 'worker died; starting another');
    fork(slot);
  });
  for (let slot = 1; slot <= n; slot++) fork(slot);
  log.info({ workers: n }, 'workers started');

  function stop(signal: NodeJS.Signals): void {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    log.info({ signal, workers: workers.length }, 'stopping workers');
    if (workers.length === 0) process.exit(exitCode);
    // Each worker drains (its own handler closes listeners gracefully); always SIGTERM, as a worker that already
    // had the terminal's SIGINT ignores it, where a second SIGINT would end it mid-drain. Stragglers are killed.
    for (const w of workers) w.process.kill('SIGTERM');
    setTimeout(() => {
      for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
    }, options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS).unref();
  }
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
