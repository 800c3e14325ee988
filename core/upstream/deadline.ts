// Deadline layer: each try gets min(remaining budget, the route's per-try timeout), the next hop is told that
// budget in x-request-timeout-ms, and a spent budget fails at once instead of calling upstream.
import { MeshError } from '../errors.js';
import type { Layer } from './upstream.js';

export function deadline(now: () => number = () => performance.now()): Layer {
  return (next) => (x) => {
    const remaining = x.remainingMs(now());
    if (remaining <= 0) return Promise.reject(new MeshError('deadline_exceeded'));
    const perTry = x.route?.perTryTimeoutMs ?? Infinity;
    const budget = Math.min(remaining, perTry);
    x.perTryTimeoutMs = perTry; // read by the innermost upstream (pool or HTTP/2 session) to bound this try
    x.tryBoundByCaller = x.deadlineIsCallers && remaining <= perTry;
    // The receiver reduces this by its own elapsed time; a retry tells it the (smaller) budget left now.
    if (Number.isFinite(budget)) x.upstreamHeaders['x-request-timeout-ms'] = String(Math.max(1, Math.floor(budget)));
    return next(x);
  };
}
