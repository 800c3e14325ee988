// SIGTERM/SIGINT: drain the process once, then exit. A second, different signal during the drain (a terminal's
// SIGINT and a cluster primary's SIGTERM arrive together) is ignored; the same signal again is not caught.
import { logger } from '../telemetry/log.js';

export function onSignals(drain: () => Promise<void>): void {
  const log = logger('process');
  let draining = false;
  const stop = async (signal: string) => {
    if (draining) return;
    draining = true;
    log.info({ signal }, 'draining');
    try {
      await drain();
    } finally {
      process.exit(0);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
