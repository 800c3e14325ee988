// The sidecar outbound chain: the app calls other services through it; routing like the edge, to the
// target service's sidecars, with the app's own deadline carried on.
import { requestFraming } from '../core/stages/request-framing.js';
import { normalizePath } from '../core/stages/normalize-path.js';
import { traceContext } from '../core/stages/trace-context.js';
import { routeMatch } from '../core/stages/route-match.js';
import { accessLog } from '../core/stages/access-log.js';
import { forwardToService } from '../core/stages/forward-to-service.js';
import type { StageDef } from '../core/pipeline/stage.js';
import type { OutboundDeps } from './deps.js';

export const OUTBOUND_CHAIN: StageDef<OutboundDeps>[] = [
  requestFraming, // one Host (a JSON 400 without one), no TE on HTTP/1.0
  normalizePath, // one canonical path for matching and forwarding
  traceContext, // continue the app's trace (it passed traceparent on), a span for this hop
  routeMatch, // the same route table as the edge: east-west calls are routed like north-south
  forwardToService, // one of the target's sidecars
  accessLog, // a line, the metrics and the span end
];
