// What the edge's stages get at build time.
import type { NormalizeDeps } from '../core/stages/normalize-path.js';
import type { TraceDeps } from '../core/stages/trace-context.js';
import type { RouteDeps } from '../core/stages/route-match.js';
import type { AccessLogDeps } from '../core/stages/access-log.js';
import type { ForwardedDeps } from './stages/forwarded-headers.js';
import type { FramingDeps } from '../core/stages/request-framing.js';
import type { Upstream } from '../core/upstream/upstream.js';

export interface EdgeDeps extends NormalizeDeps, TraceDeps, RouteDeps, AccessLogDeps, ForwardedDeps, FramingDeps {
  tier: string;
  /** The layered upstream to the services' sidecars. */
  upstream: Upstream;
}
