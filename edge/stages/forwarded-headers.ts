// transformRequest phase (edge): X-Forwarded-For/-Proto/-Host and Forwarded (RFC 7239) set by the edge, and the
// client IP the mesh trusts (used by quota keys) handed to the sidecar in a mesh-only header.
import type { StageDef } from '../../core/pipeline/stage.js';

export interface ForwardedDeps {
  /** True when the listener is TLS (X-Forwarded-Proto). */
  secure: boolean;
}

function forwardedNode(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

export const forwardedHeaders: StageDef<ForwardedDeps> = {
  name: 'forwarded-headers',
  phase: 'transformRequest',
  build({ deps }) {
    const proto = deps.secure ? 'https' : 'http';
    return {
      name: 'forwarded-headers',
      request(x) {
        const ip = x.clientIp.startsWith('::ffff:') ? x.clientIp.slice(7) : x.clientIp;
        const h = x.upstreamHeaders;
        // Incoming forwarding headers are not trusted: the edge is the first hop it vouches for.
        h['x-forwarded-for'] = ip;
        h['x-forwarded-proto'] = proto;
        h['x-forwarded-host'] = x.host;
        h.forwarded = `for=${forwardedNode(ip)};proto=${proto};host="${x.host}"`;
        h['x-meshgate-client-ip'] = ip;
        return undefined;
      },
    };
  },
};
