// The process logger: pino JSON to stdout through an async destination, so logging never blocks the hot path.
import { pino, type Logger } from 'pino';

// sonic-boom's own chunking (16 KiB per write): it writes one chunk per completed write, so once per event-loop
// turn under load, and a turn at saturation logs ~60 lines; smaller chunks fall behind without bound (tried: 1 KiB
// left 7,000 lines queued after 9 s). While stdout is slower than the log, at most MAX_BACKLOG_BYTES wait; the
// lines past that are dropped and counted (meshgate_log_lines_dropped_total), so a stalled reader can neither
// block the request path nor grow the heap.
const MAX_BACKLOG_BYTES = 8 * 1024 * 1024;
const destination = pino.destination({ dest: 1, sync: false, minLength: 0, maxLength: MAX_BACKLOG_BYTES });
let dropped = 0;
destination.on('drop', () => {
  if (dropped++ === 0) process.stderr.write(`meshgate: stdout is not keeping up with the log; dropping lines while ${MAX_BACKLOG_BYTES >> 20} MiB wait to be written\n`);
});

/** Log lines dropped because stdout fell more than MAX_BACKLOG_BYTES behind (since the process started). */
export function droppedLogLines(): number {
  return dropped;
}

// An async destination buffers; flush what is left when the process exits.
process.on('exit', () => {
  try {
    destination.flushSync();
  } catch {
    // the stream may not be ready yet (exit during start-up); nothing buffered then
  }
});

/** Never let a credential reach the log, whatever a caller passes. */
const REDACT = [
  'authorization',
  'cookie',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'token',
  'adminToken',
  'credential',
];

export const log: Logger = pino(
  {
    level: process.env.MESHGATE_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    // pino's default: epoch milliseconds (an ISO string costs a Date format per line, ~1.5 µs on the access log).
    timestamp: pino.stdTimeFunctions.epochTime,
    redact: { paths: REDACT, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  },
  destination,
);

export function logger(component: string): Logger {
  return log.child({ component });
}

export type { Logger };
