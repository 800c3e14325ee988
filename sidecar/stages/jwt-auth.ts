// Stage jwt-auth (authenticate): the bearer token → x.identity; cached tokens cost a hash and a map lookup.
import { MeshError } from '../../core/errors.js';
import type { Exchange } from '../../core/pipeline/exchange.js';
import type { StageDef, Verdict } from '../../core/pipeline/stage.js';
import { authenticate, compileAuthPolicy, type AuthOutcome, type SidecarAuthDeps } from '../../core/auth/token-verifier.js';

export type { SidecarAuthDeps } from '../../core/auth/token-verifier.js';

function settle(x: Exchange, outcome: AuthOutcome): Verdict {
  if (outcome instanceof MeshError) return outcome;
  x.identity = outcome;
  return undefined;
}

export const jwtAuth: StageDef<SidecarAuthDeps> = {
  name: 'jwt-auth',
  phase: 'authenticate',
  build({ route, snapshot, deps }) {
    if (!route?.auth) return undefined;
    const policy = compileAuthPolicy(route.auth, snapshot.config.issuers);
    return {
      name: 'jwt-auth',
      request(x) {
        const outcome = authenticate(deps, policy, x.req.headers.authorization, x.req.socket);
        // A miss (or introspection) is the only promise; a cached token stays synchronous.
        if (outcome instanceof Promise) return outcome.then((o) => settle(x, o));
        return settle(x, outcome);
      },
    };
  },
};
