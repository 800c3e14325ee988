// The edge chain, outermost first. Phases fix the order; this list only decides order within a phase.
import { normalizePath } from '../core/stages/normalize-path.js';
import { traceContext } from '../core/stages/trace-context.js';
import { routeMatch } from '../core/stages/route-match.js';
import { accessLog } from '../core/stages/access-log.js';
import type { StageDef } from '../core/pipeline/stage.js';
import { forwardedHeaders } from './stages/forwarded-headers.js';
import { requestFraming } from '../core/stages/request-framing.js';
import { bodyLimit } from '../core/stages/body-limit.js';
import { forwardToService } from '../core/stages/forward-to-service.js';
import type { EdgeDeps } from './deps.js';

export const EDGE_CHAIN: StageDef<EdgeDeps>[] = [
  requestFraming, // one Host, no TE on HTTP/1.0, header count: what llhttp leaves to us (RFC 9112)
  normalizePath, // match and forward one canonical path: no encoding trick reaches another route
  traceContext, // request id and traceparent before anything can fail, so errors are traceable
  routeMatch, // host/path/method/headers → route, service and deadline, decided once
  forwardedHeaders, // the client IP the mesh vouches for (trusted proxies only), and X-Forwarded-*
  bodyLimit, // the route's maxBodySize: 413 on a declared length, counted while a chunked body streams
  forwardToService, // one of the service's sidecars, over keep-alive
  accessLog, // a line, the metrics and the span end, whatever happened
];
