// Trace layer: one client span per try (OTel HTTP semantic conventions: each resend is a span of its own, with
// http.request.resend_count), named {method}, with the endpoint the balance layer chose, ended with the try's
// status or, when no response came, error.type. The try's traceparent names its own span.
import { endSpan, failSpan, setServerAddress, startClientSpan, traceparentOf, tracer } from '../telemetry/tracing.js';
import type { Span, Tracer } from '@opentelemetry/api';
import type { Exchange } from '../pipeline/exchange.js';
import { upstreamError, type Layer } from './upstream.js';

/**
 * The client span of one upstream call, child of the recording server span: named {method}, with the endpoint and
 * the resend count; the request's traceparent now names it. Also the WebSocket tunnel's.
 */
export function startTry(x: Exchange, server: Span, t: Tracer, tier: string): Span {
  const span = startClientSpan(t, x.method, server, { 'http.request.method': x.method, 'meshgate.service': x.service, 'meshgate.tier': tier });
  if (x.attempts > 1) span.setAttribute('http.request.resend_count', x.attempts - 1);
  if (x.upstreamAddress) setServerAddress(span, x.upstreamAddress);
  x.upstreamHeaders.traceparent = traceparentOf(span);
  return span;
}

/** Innermost but the transport: after balance (the address is known) and deadline (the budget is stamped). */
export function traceTries(tier: string): Layer {
  const t = tracer(tier);
  return (next) => (x) => {
    // An unsampled trace gets no client span: the next hop continues from this hop's server span (forward stamped it).
    if (!x.span?.isRecording()) return next(x);
    const span = startTry(x, x.span, t, tier);
    return next(x).then(
      (response) => {
        endSpan(span, response.status, true);
        return response;
      },
      (err: unknown) => {
        failSpan(span, upstreamError(err).code);
        throw err;
      },
    );
  };
}
