// The sidecar inbound chain: everything a request must pass before it reaches the local app.
// Phases fix the order (auth can never follow a transform); this list orders stages within a phase.
import { requestFraming } from '../core/stages/request-framing.js';
import { normalizePath } from '../core/stages/normalize-path.js';
import { traceContext } from '../core/stages/trace-context.js';
import { routeMatch } from '../core/stages/route-match.js';
import { accessLog } from '../core/stages/access-log.js';
import { bodyLimit } from '../core/stages/body-limit.js';
import type { StageDef } from '../core/pipeline/stage.js';
import { clientIp } from './stages/client-ip.js';
import { jwtAuth } from './stages/jwt-auth.js';
import { scopeAuthz } from './stages/scope-authz.js';
import { quotaLocal } from './stages/quota-local.js';
import { quotaGlobal } from './stages/quota-global.js';
import { headerTransform } from './stages/header-transform.js';
import { forwardLocalApp } from './stages/forward-local-app.js';
import { responseTransform } from './stages/response-transform.js';
import type { InboundDeps } from './deps.js';

export const INBOUND_CHAIN: StageDef<InboundDeps>[] = [
  requestFraming, // one Host (a JSON 400 without one), no TE on HTTP/1.0: a direct east-west caller may not pass the edge
  normalizePath, // the edge normalized already; a direct east-west caller may not have
  clientIp, // the client IP the edge vouched for, for quota keys and logs
  traceContext, // continue the caller's trace; a server span for this hop
  routeMatch, // only routes that target this service; the deadline is capped here
  jwtAuth, // verify the bearer token (cached by hash), check revocation
  scopeAuthz, // the route's issuers, audiences, scopes and claims
  quotaLocal, // local policies: in-process token buckets, no I/O
  quotaGlobal, // global policies: spend leased tokens, refill from quota-svc ahead of need
  headerTransform, // identity headers for the app, RequestHeaderModifier, URLRewrite
  bodyLimit, // the route's maxBodySize again: an east-west caller does not pass the edge
  forwardLocalApp, // the app, with the remaining budget in x-request-timeout-ms
  responseTransform, // ResponseHeaderModifier
  accessLog, // a line, the metrics and the span end, whatever happened
];
