// forward phase: the one terminal stage. Stamps trace context and the remaining budget on the upstream request,
// calls the layered upstream (whose traceTries layer opens a client span per try) and hands its response on.
import { MeshError } from '../errors.js';
import { traceparentOf } from '../telemetry/tracing.js';
import type { Span, Tracer } from '@opentelemetry/api';
import type { Exchange } from '../pipeline/exchange.js';
import type { Stage, Verdict } from '../pipeline/stage.js';
import { startTry } from '../upstream/trace-try.js';
import { upstreamError, type Upstream } from '../upstream/upstream.js';

/**
 * Stamp trace context and the remaining budget on the upstream request. The traceparent is this hop's server span;
 * each try replaces it with its own client span when the trace records (traceTries).
 */
export function stampUpstream(x: Exchange, remaining: number): void {
  if (x.span) x.upstreamHeaders.traceparent = traceparentOf(x.span);
  // Only a tracestate that came with a valid traceparent goes on; the client's own copy (forwarded with its other
  // headers) is dropped otherwise (W3C Trace Context §3.3.1).
  if (x.tracestate) x.upstreamHeaders.tracestate = x.tracestate;
  else delete x.upstreamHeaders.tracestate;
  if (Number.isFinite(remaining)) x.upstreamHeaders['x-request-timeout-ms'] = String(Math.floor(remaining));
}

/** stampUpstream, and a client span for a call that is not tried through the layers (a WebSocket tunnel). */
export function startUpstreamCall(x: Exchange, t: Tracer, spanTier: string, remaining: number): Span | undefined {
  stampUpstream(x, remaining);
  return x.span?.isRecording() ? startTry(x, x.span, t, spanTier) : undefined;
}

export function forwardStage(name: string, upstream: Upstream): Stage {
  return {
    name,
    async request(x: Exchange): Promise<Verdict> {
      const remaining = x.remainingMs();
      if (remaining <= 0) return new MeshError('deadline_exceeded');
      stampUpstream(x, remaining);
      try {
        const response = await upstream(x);
        x.status = response.status;
        x.upstreamResponseHeaders = response.headers;
        x.upstreamBody = response.body;
        return undefined;
      } catch (err) {
        return upstreamError(err);
      }
    },
  };
}
