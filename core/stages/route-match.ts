// route phase: pick the route from the snapshot's compiled table, stamp the per-request policy (service,
// deadline) on the exchange once, and start the upstream header set from the client's (sanitized) headers.
import type { IncomingHttpHeaders } from 'node:http';
import { MeshError } from '../errors.js';
import { forwardableHeaders } from '../http/forward-headers.js';
import { grpcTimeoutMs } from '../http/grpc-timeout.js';
import type { StageDef } from '../pipeline/stage.js';

export interface RouteDeps {
  /** Sidecar inbound: only routes that target this service. Edge and outbound: every route. */
  service?: string;
  /** Receiver's own cap on any deadline (ms). */
  maxTimeoutMs?: number;
}

const BUDGET = /^[0-9]{1,10}$/;

/** The caller's remaining budget (ms): the smaller of x-request-timeout-ms (mesh hops) and grpc-timeout (gRPC). */
function callerBudgetMs(headers: IncomingHttpHeaders): number | undefined {
  const incoming = headers['x-request-timeout-ms'];
  let budget = typeof incoming === 'string' && BUDGET.test(incoming) ? Number(incoming) : undefined;
  const grpc = grpcTimeoutMs(headers['grpc-timeout']);
  return grpc === undefined ? budget : Math.min(budget ?? Infinity, grpc);
}

export const routeMatch: StageDef<RouteDeps> = {
  name: 'route-match',
  phase: 'route',
  build({ snapshot, deps }) {
    const table = deps.service ? snapshot.tableFor(deps.service) : snapshot.table;
    const cap = deps.maxTimeoutMs ?? Infinity;
    return {
      name: 'route-match',
      request(x) {
        const hit = table.match(x.host, x.path, x.method, x.req.headers);
        if (!hit) return new MeshError('no_route');
        const route = hit.route;
        x.route = route;
        x.matchedPrefix = hit.prefix;
        x.service = route.pickService();
        if (x.span?.isRecording()) {
          x.span.setAttribute('http.route', hit.template);
          x.span.setAttribute('meshgate.route', route.name);
          x.span.updateName(`${x.method} ${hit.template}`);
        }
        // The deadline is the smallest of: the route's timeout, the caller's remaining budget, our own cap.
        let budget = Math.min(route.timeoutMs, cap);
        const callerBudget = callerBudgetMs(x.req.headers);
        if (callerBudget !== undefined) {
          if (callerBudget <= 0) return new MeshError('deadline_exceeded', 'The caller\'s deadline has already passed.');
          if (callerBudget < budget) {
            budget = callerBudget;
            x.deadlineIsCallers = true;
          }
        }
        x.deadlineAt = x.startedAt + budget;
        x.upstreamHeaders = forwardableHeaders(x.req.headers);
        x.upstreamHeaders['x-request-id'] = x.requestId;
        return undefined;
      },
    };
  },
};
