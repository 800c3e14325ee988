// normalize phase (sidecar inbound): the client IP is what the edge vouched for in a mesh-only header;
// without it (east-west calls) the caller's own address.
import type { StageDef } from '../../core/pipeline/stage.js';

export const clientIp: StageDef<unknown> = {
  name: 'client-ip',
  phase: 'normalize',
  build() {
    return {
      name: 'client-ip',
      request(x) {
        const vouched = x.req.headers['x-meshgate-client-ip'];
        if (typeof vouched === 'string' && vouched.length <= 45) x.clientIp = vouched;
        return undefined;
      },
    };
  },
};
