// The process logger: pino JSON to stdout through an async, buffered destination, so logging never blocks the hot path.
import { pino, type Logger } from 'pino';

// Lines reach stdout through sonic-boom's async destination: a write in flight never blocks the request path.
// Access-log lines go in batches: LineBatch gathers them and hands sonic-boom one string per batch.
// - Why batch: written one by one, every access-log line at a moderate rate is a write of its own, a thread-pool
//   round trip (at 1,000 req/s, ~45 µs of the sidecar's CPU per request). So a batch waits for BATCH_BYTES, for the
//   periodic flush (every FLUSH_INTERVAL_MS; Envoy flushes its access log on a timer too), or for exit.
// - Every other line (start-up, config swaps, warnings, errors) is rare and someone may be waiting for it: it is
//   written at once, after the access lines gathered before it, so the order on stdout is the order of logging.
// - Why not sonic-boom's own minLength: it appends each line to its pending chunk and measures the chunk again
//   (Buffer.byteLength, which flattens it), so a chunk of n lines costs O(n²); at saturation (~60 lines per event-loop
//   turn) that was 6.5 µs per line against 2.2 µs for one joined string per turn.
// - Under load sonic-boom writes one chunk per completed write, so batches go out once per event-loop turn; smaller
//   chunks fall behind without bound (tried: 1 KiB left 7,000 lines queued after 9 s).
// - While stdout is slower than the log, at most MAX_BACKLOG_BYTES wait in sonic-boom; batches past that are dropped
//   and their lines counted (meshgate_log_lines_dropped_total), so a stalled reader can neither block the request
//   path nor grow the heap. A batch holds at most MAX_BATCH_BYTES before it is handed on, even within one turn.
// Sizes are string lengths (JSON lines are ASCII but for the odd escaped value). 16 KiB rather than 4 KiB: a write
// per ~55 access lines instead of ~14, the thread-pool hop being what each write costs (in alternating runs, 4 KiB
// cost ~30 µs more CPU per request at saturation and no less at 1,000 req/s).
const BATCH_BYTES = 16 * 1024;
const MAX_BATCH_BYTES = 64 * 1024;
const FLUSH_INTERVAL_MS = 250;
const MAX_BACKLOG_BYTES = 8 * 1024 * 1024;
const destination = pino.destination({ dest: 1, sync: false, minLength: 0, maxLength: MAX_BACKLOG_BYTES });
let dropped = 0;
destination.on('drop', (batch: string) => {
  if (dropped === 0) process.stderr.write(`meshgate: stdout is not keeping up with the log; dropping lines while ${MAX_BACKLOG_BYTES >> 20} MiB wait to be written\n`);
  for (let i = batch.indexOf('\n'); i !== -1; i = batch.indexOf('\n', i + 1)) dropped++;
});

/** Lines in order, handed to sonic-boom as one string per batch; `write` is the access log's pino destination. */
class LineBatch {
  private lines: string[] = [];
  private bytes = 0;
  private scheduled = false;
  private readonly handOn = () => {
    this.scheduled = false;
    if (this.bytes >= BATCH_BYTES) this.flush();
  };

  constructor() {
    setInterval(() => this.flush(), FLUSH_INTERVAL_MS).unref();
  }

  write(line: string): boolean {
    this.lines.push(line);
    this.bytes += line.length;
    if (this.bytes >= MAX_BATCH_BYTES) this.flush();
    else if (this.bytes >= BATCH_BYTES && !this.scheduled) {
      // The rest of this turn's lines join the batch: one string per turn under load.
      this.scheduled = true;
      setImmediate(this.handOn);
    }
    return true;
  }

  /** A line that should not wait: written now, after the lines gathered before it. */
  writeNow(line: string): boolean {
    this.lines.push(line);
    this.flush();
    return true;
  }

  /** Hand what is gathered to sonic-boom now (pino's logger.flush(cb) calls this too). */
  flush(cb?: (err?: Error) => void): void {
    if (this.lines.length > 0) {
      const batch = this.lines.length === 1 ? this.lines[0] : this.lines.join('');
      this.lines = [];
      this.bytes = 0;
      destination.write(batch);
    }
    if (cb) destination.flush(cb);
  }

  flushSync(): void {
    this.flush();
    destination.flushSync();
  }
}
const batch = new LineBatch();
/** The destination of every line but the access log's. */
const prompt = { write: (line: string) => batch.writeNow(line), flush: (cb?: (err?: Error) => void) => batch.flush(cb) };

/** Log lines dropped because stdout fell more than MAX_BACKLOG_BYTES behind (since the process started). */
export function droppedLogLines(): number {
  return dropped;
}

// Lines gathered or queued when the process exits are written before it goes.
process.on('exit', () => {
  try {
    batch.flushSync();
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

const OPTIONS: pino.LoggerOptions = {
  level: process.env.MESHGATE_LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
  // pino's default: epoch milliseconds (an ISO string costs a Date format per line, ~1.5 µs on the access log).
  timestamp: pino.stdTimeFunctions.epochTime,
  redact: { paths: REDACT, censor: '[redacted]' },
  formatters: { level: (label) => ({ level: label }) },
};

export const log: Logger = pino(OPTIONS, prompt);
const accessRoot: Logger = pino(OPTIONS, batch);

export function logger(component: string): Logger {
  return log.child({ component });
}

/** The access log (`component: "access"`): one line per request, written in batches. */
export function accessLogger(): Logger {
  return accessRoot.child({ component: 'access' });
}

export type { Logger };
