// trace phase: x-request-id and W3C traceparent — propagated when valid, generated otherwise — and the server span.
import { randomUUID } from 'node:crypto';
import { startServerSpan, tracer } from '../telemetry/tracing.js';
import type { StageDef } from '../pipeline/stage.js';

/** A request id a client may choose: short, printable, no separators that break log parsing. */
const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

export interface TraceDeps {
  /** Trust an incoming x-request-id (edge: from clients; sidecars: from the mesh). */
  trustRequestId?: boolean;
}

export const traceContext: StageDef<TraceDeps & { tier: string }> = {
  name: 'trace-context',
  phase: 'trace',
  build({ deps }) {
    const t = tracer(deps.tier);
    const trust = deps.trustRequestId ?? true;
    return {
      name: 'trace-context',
      request(x) {
        const incoming = x.req.headers['x-request-id'];
        x.requestId = trust && typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
        // Named {method} until a route gives it its template (semantic conventions: "GET", then "GET /orders").
        const span = startServerSpan(t, x.method, x.req.headers);
        x.span = span;
        if (span.isRecording()) {
          span.setAttributes({
            'http.request.method': x.method,
            'url.path': x.path,
            'url.scheme': (x.req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
            'server.address': x.host,
            'meshgate.tier': deps.tier,
            'meshgate.request_id': x.requestId,
          });
        }
        // W3C Trace Context §3.3.1: a tracestate without a valid traceparent is discarded. The span continues the
        // caller's trace exactly when its traceparent was valid (a new trace has a new random id).
        const { traceparent, tracestate } = x.req.headers;
        if (typeof tracestate === 'string' && typeof traceparent === 'string' && span.spanContext().traceId === traceparent.slice(3, 35)) x.tracestate = tracestate;
        return undefined;
      },
    };
  },
};
