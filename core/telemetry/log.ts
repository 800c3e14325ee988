// The process logger: pino JSON to stdout through an async destination, so logging never blocks the hot path.
import { pino, type Logger } from 'pino';

// maxWrite 1 KiB instead of sonic-boom's 16 KiB: while a write is in flight, lines are appended to the last
// pending chunk, and each append measures (so flattens and copies) that whole chunk. At saturation a 16 KiB chunk
// cost ~5 KB of garbage and ~10% of the sidecar's CPU per request; 1 KiB chunks bound it to a line or two.
const destination = pino.destination({ dest: 1, sync: false, minLength: 0, maxWrite: 1024 });
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
