// Children a test process started are killed by pid when it goes, however it goes: a normal exit, an uncaught
// error, or the SIGTERM node's test runner sends a file that ran past its timeout. A signal's default action skips
// 'exit' handlers, so without the signal handlers here an etcd or a meshgate started by a timed-out file lives on.
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

const children = new Set<ChildProcess>();
const cleanups: (() => void)[] = [];

function reap(): void {
  for (const child of children) {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  children.clear();
  for (const cleanup of cleanups.splice(0)) cleanup();
}

process.on('exit', reap);
// Only when nothing else handles the signal: a program with its own graceful stop (npm run stack, the bench) keeps
// it, and 'exit' reaps whatever that stop leaves behind. SIGINT is left alone: Ctrl-C reaches the whole foreground
// process group, children included.
for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (process.listenerCount(signal) > 1) return;
    reap();
    process.exit(128 + constants.signals[signal]);
  });
}

/** Kill `child` (SIGKILL, by its pid) if it is still running when this process exits or is told to stop. */
export function reapOnExit<C extends ChildProcess>(child: C): C {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Run `cleanup` when this process exits or is told to stop, after its children are killed. */
export function atExit(cleanup: () => void): void {
  cleanups.push(cleanup);
}
