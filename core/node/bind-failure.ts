// A listener that cannot bind (port taken, privileged port, address not on this machine) is a usage error that
// names the flag which asked for it (DESIGN §4: one line naming the field, exit 2), not a stack trace.
import { UsageError } from '../config/usage-error.js';

const REASONS: Record<string, string> = {
  EADDRINUSE: 'address in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'address not available on this machine',
};

interface BindFailure {
  code: string;
  address: string | undefined;
  port: number;
}

/** node:net's listen error (code, address, port), or grpc-js's "No address added … [listen EADDRINUSE: … host:port]". */
function bindFailure(err: unknown): BindFailure | undefined {
  const e = err as (NodeJS.ErrnoException & { address?: string; port?: number }) | undefined;
  if (e?.code && e.code in REASONS && typeof e.port === 'number') return { code: e.code, address: e.address, port: e.port };
  const match = /\b(EADDRINUSE|EACCES|EADDRNOTAVAIL)\b[^\]]*?(\S+):([0-9]+)\]?$/.exec(String(e?.message ?? ''));
  return match ? { code: match[1], address: match[2], port: Number(match[3]) } : undefined;
}

/**
 * `err` as a UsageError naming the flag whose port (or the --host whose address) could not be bound; any other
 * error is returned as it is. `ports` maps each listener flag to the port it asked for.
 */
export function bindFailureAsUsage(err: unknown, ports: Record<string, number>, hostFlag = '--host'): unknown {
  const failure = bindFailure(err);
  if (!failure) return err;
  if (failure.code === 'EADDRNOTAVAIL') return new UsageError(`${hostFlag} ${failure.address ?? ''}: ${REASONS[failure.code]}`);
  const flags = Object.keys(ports).filter((flag) => ports[flag] === failure.port);
  const named = flags.length ? flags.map((flag) => `${flag} ${failure.port}`).join(', ') : `port ${failure.port}`;
  return new UsageError(`${named}: ${REASONS[failure.code]}`);
}

/** Two listeners asking for the same port: refused before anything starts (0, a free port each, may repeat). */
export function checkDistinctPorts(ports: Record<string, number>): void {
  const seen = new Map<number, string>();
  for (const [flag, port] of Object.entries(ports)) {
    if (port === 0) continue;
    const other = seen.get(port);
    if (other) throw new UsageError(`${other} and ${flag} are both ${port}: each listener needs a port of its own`);
    seen.set(port, flag);
  }
}
