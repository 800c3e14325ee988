// normalize phase (sidecar inbound): the client IP is what the edge vouched for in a mesh-only header, when the
// request comes from a peer trusted to vouch (--trusted-peers: the edges); otherwise (east-west calls, or anyone
// else who reaches the inbound port) the caller's own address. Before, any peer could name the client IP that quota
// keys and logs use, and get a fresh client-ip bucket per request.
import type { StageDef } from '../../core/pipeline/stage.js';
import { TrustedProxies, unmapped } from '../../core/http/trusted-proxies.js';

/** Where edges run unless told otherwise: loopback and the private ranges clusters use (RFC 1918, CGNAT, ULA). */
export const DEFAULT_TRUSTED_PEERS = '127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,fc00::/7';

export interface ClientIpDeps {
  /** Peers whose x-meshgate-client-ip is believed (default DEFAULT_TRUSTED_PEERS). */
  trustedPeers?: TrustedProxies;
}

const DEFAULT = TrustedProxies.parse(DEFAULT_TRUSTED_PEERS);

export const clientIp: StageDef<ClientIpDeps> = {
  name: 'client-ip',
  phase: 'normalize',
  build({ deps }) {
    const trusted = deps.trustedPeers ?? DEFAULT;
    return {
      name: 'client-ip',
      request(x) {
        const peer = unmapped(x.clientIp);
        const vouched = x.req.headers['x-meshgate-client-ip'];
        x.clientIp = typeof vouched === 'string' && vouched.length <= 45 && trusted.trusts(peer) ? vouched : peer;
        return undefined;
      },
    };
  },
};
