// log phase: one JSON access-log line, the request metrics and the end of the server span, per request.
import { endSpan } from '../telemetry/tracing.js';
import { routeMetrics, type RouteMetrics } from '../telemetry/metrics.js';
import type { Logger } from '../telemetry/log.js';
import type { StageDef } from '../pipeline/stage.js';

export interface AccessLogDeps {
  tier: string;
  accessLog: Logger;
}

export const accessLog: StageDef<AccessLogDeps> = {
  name: 'access-log',
  phase: 'log',
  build({ deps }) {
    const unmatched = routeMetrics(deps.tier, '', '');
    // The tier is serialized once into the child's bindings, not on every line.
    const log = deps.accessLog.child({ tier: deps.tier });
    // route → service → metrics: a hit builds no key string and writes nothing.
    const cache = new Map<string, Map<string, RouteMetrics>>();
    return {
      name: 'access-log',
      response(x) {
        const status = x.status || (x.res.writableFinished ? x.res.statusCode : 499);
        const seconds = (performance.now() - x.startedAt) / 1000;
        const routeName = x.route?.name ?? '';
        let metrics = unmatched;
        if (routeName) {
          let byService = cache.get(routeName);
          if (!byService) cache.set(routeName, (byService = new Map()));
          metrics = byService.get(x.service) ?? unmatched;
          if (metrics === unmatched) byService.set(x.service, (metrics = routeMetrics(deps.tier, routeName, x.service)));
        }
        metrics.observe(status, seconds);
        endSpan(x.span, status);
        log.info({
          traceId: x.span?.spanContext().traceId,
          requestId: x.requestId,
          method: x.method,
          path: x.path,
          route: routeName || undefined,
          service: x.service || undefined,
          upstream: x.upstreamAddress || undefined,
          status,
          durationMs: Math.round(seconds * 1e6) / 1e3,
          attempts: x.attempts || undefined,
          clientId: x.identity?.clientId ?? x.identity?.subject,
          error: x.error?.code,
        });
      },
    };
  },
};
