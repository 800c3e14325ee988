// forward phase: the one terminal stage. Opens the client span, stamps trace context and the remaining
// budget on the upstream request, calls the layered upstream and hands its response to the listener.
import { MeshError } from '../errors.js';
import { endSpan, failSpan, setServerAddress, startClientSpan, traceparentOf, tracer } from '../telemetry/tracing.js';
import type { Span, Tracer } from '@opentelemetry/api';
import type { Exchange } from '../pipeline/exchange.js';
import type { Stage, Verdict } from '../pipeline/stage.js';
import { upstreamError, type Upstream } from '../upstream/upstream.js';

/**
 * Open the client span of an upstream call and stamp trace context and the remaining budget on the upstream
 * request: for the forward stage, and for a WebSocket upgrade, which is tunnelled instead of forwarded.
 */
export function startUpstreamCall(x: Exchange, t: Tracer, spanTier: string, remaining: number): Span | undefined {
  // An unsampled trace gets no client span: the next hop continues from this hop's (non-recording) server span.
  const span = x.span?.isRecording() ? startClientSpan(t, x.method, x.span, { 'http.request.method': x.method, 'meshgate.service': x.service, 'meshgate.tier': spanTier }) : undefined;
  if (span || x.span) x.upstreamHeaders.traceparent = traceparentOf(span ?? x.span!);
  // Only a tracestate that came with a valid traceparent goes on; the client's own copy (forwarded with its other
  // headers) is dropped otherwise (W3C Trace Context §3.3.1).
  if (x.tracestate) x.upstreamHeaders.tracestate = x.tracestate;
  else delete x.upstreamHeaders.tracestate;
  if (Number.isFinite(remaining)) x.upstreamHeaders['x-request-timeout-ms'] = String(Math.floor(remaining));
  return span;
}

export function forwardStage(name: string, tier: string, upstream: Upstream): Stage {
  const t = tracer(tier);
  return {
    name,
    async request(x: Exchange): Promise<Verdict> {
      const remaining = x.remainingMs();
      if (remaining <= 0) return new MeshError('deadline_exceeded');
      const span = startUpstreamCall(x, t, tier, remaining);
      try {
        const response = await upstream(x);
        x.status = response.status;
        x.upstreamResponseHeaders = response.headers;
        x.upstreamBody = response.body;
        if (span?.isRecording()) setServerAddress(span, x.upstreamAddress);
        endSpan(span, response.status, true);
        return undefined;
      } catch (err) {
        const error = upstreamError(err);
        if (span?.isRecording() && x.upstreamAddress) setServerAddress(span, x.upstreamAddress);
        failSpan(span, error.code);
        return error;
      }
    },
  };
}
