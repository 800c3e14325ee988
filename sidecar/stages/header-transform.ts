// transformRequest phase: identity headers for the app (after auth, never from the client), X-Real-IP, the route's
// RequestHeaderModifier and URLRewrite.
import type { StageDef } from '../../core/pipeline/stage.js';

export const headerTransform: StageDef<unknown> = {
  name: 'header-transform',
  phase: 'transformRequest',
  build({ route }) {
    const ops = route!.requestHeaders;
    const rewrite = route!.rewrite;
    return {
      name: 'header-transform',
      request(x) {
        const h = x.upstreamHeaders;
        // The client IP the mesh vouches for (the edge's, or an east-west caller's address), as the edge sets it:
        // a caller's own X-Real-IP never reaches the app, which may read it as nginx and Kong apps do.
        h['x-real-ip'] = x.clientIp;
        if (x.identity) {
          h['x-auth-subject'] = x.identity.subjectHeader;
          h['x-auth-claims'] = x.identity.claimsHeader;
          // The OAuth client the token was issued to (client_id, azp or cid), when the token names one.
          if (x.identity.clientIdHeader !== undefined) h['x-auth-client-id'] = x.identity.clientIdHeader;
        }
        if (ops) {
          for (const name of ops.remove) delete h[name];
          for (const [name, value] of ops.set) h[name] = value;
          for (const [name, value] of ops.add) {
            const existing = h[name];
            h[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
          }
        }
        if (rewrite) {
          if (rewrite.type === 'ReplaceFullPath') x.upstreamPath = rewrite.value;
          else {
            const rest = x.path.slice(x.matchedPrefix.length);
            const joined = rewrite.value.endsWith('/') && rest.startsWith('/') ? rewrite.value + rest.slice(1) : rewrite.value + rest;
            x.upstreamPath = joined.startsWith('/') ? joined || '/' : `/${joined}`;
          }
        }
        return undefined;
      },
    };
  },
};
