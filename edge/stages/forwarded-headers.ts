// transformRequest phase (edge): X-Forwarded-For/-Proto/-Host and Forwarded (RFC 7239) set by the edge, and the
// client IP the mesh trusts (used by quota keys) handed to the sidecar in a mesh-only header.
// Incoming forwarding headers count only when the peer is a trusted proxy (--trusted-proxies).
import type { StageDef } from '../../core/pipeline/stage.js';
import { TrustedProxies, unmapped } from '../../core/http/trusted-proxies.js';

export interface ForwardedDeps {
  /** True when the listener is TLS (X-Forwarded-Proto). */
  secure: boolean;
  /** Proxies whose X-Forwarded-For is believed; none by default. */
  trustedProxies?: TrustedProxies;
}

function forwardedNode(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

const NONE = new TrustedProxies([]);

export const forwardedHeaders: StageDef<ForwardedDeps> = {
  name: 'forwarded-headers',
  phase: 'transformRequest',
  build({ deps }) {
    const proto = deps.secure ? 'https' : 'http';
    const trusted = deps.trustedProxies ?? NONE;
    return {
      name: 'forwarded-headers',
      request(x) {
        const peer = unmapped(x.req.socket.remoteAddress ?? '');
        const incoming = x.req.headers['x-forwarded-for'];
        const fromTrusted = trusted.trusts(peer);
        const ip = fromTrusted ? trusted.clientAddress(peer, incoming) : peer;
        x.clientIp = ip;
        const h = x.upstreamHeaders;
        // A trusted proxy's chain is kept and our peer appended (RFC 7239 §5.2 order); anyone else's is replaced.
        h['x-forwarded-for'] = fromTrusted && typeof incoming === 'string' && incoming.length <= 1024 ? `${incoming}, ${peer}` : ip;
        const inProto = x.req.headers['x-forwarded-proto'];
        h['x-forwarded-proto'] = fromTrusted && (inProto === 'http' || inProto === 'https') ? inProto : proto;
        // The Host the client sent, its port included (RFC 7239 §5.3; what Envoy and Traefik pass): an app building
        // its own URLs behind a non-default port needs it. normalize-path refused any that is no plain host[:port].
        const host = (x.req.headers[':authority'] as string | undefined) ?? x.req.headers.host ?? x.host;
        h['x-forwarded-host'] = host;
        h.forwarded = `for=${forwardedNode(ip)};proto=${proto};host="${host}"`;
        // What nginx setups (proxy_set_header X-Real-IP) and Kong send: apps read it, so a client's own is replaced.
        h['x-real-ip'] = ip;
        h['x-meshgate-client-ip'] = ip;
        return undefined;
      },
    };
  },
};
