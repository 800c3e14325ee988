// What the sidecar's stages get at build time: one object per listener, built in sidecar/main.ts.
import type { FramingDeps } from '../core/stages/request-framing.js';
import type { NormalizeDeps } from '../core/stages/normalize-path.js';
import type { TraceDeps } from '../core/stages/trace-context.js';
import type { RouteDeps } from '../core/stages/route-match.js';
import type { AccessLogDeps } from '../core/stages/access-log.js';
import type { SidecarAuthDeps } from '../core/auth/token-verifier.js';
import type { Upstream } from '../core/upstream/upstream.js';
import type { LocalAppDeps } from './stages/forward-local-app.js';
import type { QuotaDeps } from '../core/quota/quota-runtime.js';
import type { ClientIpDeps } from './stages/client-ip.js';

export interface InboundDeps extends FramingDeps, NormalizeDeps, ClientIpDeps, TraceDeps, RouteDeps, AccessLogDeps, LocalAppDeps, SidecarAuthDeps, QuotaDeps {
  tier: string;
}

export interface OutboundDeps extends FramingDeps, NormalizeDeps, TraceDeps, RouteDeps, AccessLogDeps {
  tier: string;
  /** The layered upstream to other services' sidecars. */
  upstream: Upstream;
}
