// A sidecar-like process for quota tests: one LeaseClient over gRPC to quota-svc, offering a fixed request rate
// on one global policy for a bounded time, then printing one JSON line: admitted/refused per store window.
//
//   node --import tsx test/support/quota-lease-worker.ts '{"target":"127.0.0.1:7081","policy":"fleet.0",
//     "limit":300,"windowMs":1000,"rate":400,"durationMs":5000,"liveNodes":3,"key":"k"}'
import { LeaseClient } from '../../core/quota/lease-client.js';
import { GrpcQuotaBackend } from '../../core/quota/quota-client.js';

export interface WorkerSpec {
  target: string;
  policy: string;
  limit: number;
  windowMs: number;
  /** Requests offered per second. */
  rate: number;
  durationMs: number;
  liveNodes: number;
  key: string;
  failureMode?: 'open' | 'closed';
}

export interface WorkerReport {
  /** Admitted requests per store window start (epoch ms on Redis' clock). */
  admitted: Record<string, number>;
  /** Offered requests per local-clock window (Date.now aligned to windowMs), for the load check. */
  offered: Record<string, number>;
  limited: number;
  other: Record<string, number>;
  checks: number;
  waits: number;
  leaseRequests: number;
  startedAt: number;
  endedAt: number;
}

const spec = JSON.parse(process.argv[2]) as WorkerSpec;
const TICK_MS = 5;
const client = new LeaseClient({
  backend: new GrpcQuotaBackend(spec.target),
  service: 'fleet',
  liveNodes: () => spec.liveNodes,
  // Generous: the test measures accounting, and a loaded CI machine must not push workers into fallback.
  rpcTimeoutMs: 5000,
});
const policy = client.compile({
  id: spec.policy,
  limit: spec.limit,
  window: 'second',
  windowMs: spec.windowMs,
  scope: 'global',
  failureMode: spec.failureMode ?? 'open',
});

const report: WorkerReport = { admitted: {}, offered: {}, limited: 0, other: {}, checks: 0, waits: 0, leaseRequests: 0, startedAt: Date.now(), endedAt: 0 };

function record(decision: string, windowStartMs: number): void {
  if (decision === 'allowed') report.admitted[windowStartMs] = (report.admitted[windowStartMs] ?? 0) + 1;
  else if (decision === 'limited') report.limited++;
  else report.other[decision] = (report.other[decision] ?? 0) + 1;
}

const deadline = report.startedAt + spec.durationMs;
const maxRequests = Math.ceil((spec.rate * spec.durationMs) / 1000) + 1;
let issued = 0;
let credit = 0;
let last = Date.now();
const pending = new Set<Promise<void>>();
// Bounded: stops at the deadline or after rate × duration requests, whichever comes first.
while (Date.now() < deadline && issued < maxRequests) {
  const now = Date.now();
  credit += ((now - last) * spec.rate) / 1000;
  last = now;
  const window = now - (now % spec.windowMs);
  while (credit >= 1 && issued < maxRequests) {
    credit--;
    issued++;
    report.offered[window] = (report.offered[window] ?? 0) + 1;
    const outcome = client.take(policy, spec.key);
    if (outcome instanceof Promise) {
      const p: Promise<void> = outcome.then((o) => {
        record(o.decision, o.windowStartMs);
        pending.delete(p);
      });
      pending.add(p);
    } else {
      record(outcome.decision, outcome.windowStartMs);
    }
  }
  await new Promise((resolve) => setTimeout(resolve, TICK_MS));
}
await Promise.all(pending);
report.endedAt = Date.now();
report.checks = client.stats.checks;
report.waits = client.stats.waits;
report.leaseRequests = client.stats.leaseRequests;
await client.close();
process.stdout.write(JSON.stringify(report) + '\n');
