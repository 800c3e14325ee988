// Stage scope-authz (authorize): the route's required scopes (all-of, any-of) and claim values → 403 insufficient_scope.
import { insufficientScope, invalidToken } from '../../core/errors.js';
import type { StageDef } from '../../core/pipeline/stage.js';
import { compileAuthPolicy, type SidecarAuthDeps } from '../../core/auth/token-verifier.js';

export const scopeAuthz: StageDef<SidecarAuthDeps> = {
  name: 'scope-authz',
  phase: 'authorize',
  build({ route, snapshot }) {
    if (!route?.auth) return undefined;
    const policy = compileAuthPolicy(route.auth, snapshot.config.issuers);
    const { scopes, anyScopes, claims } = policy;
    if (!scopes.length && !anyScopes && !claims.length) return undefined;
    const anyScopesText = anyScopes?.join(' ') ?? '';
    return {
      name: 'scope-authz',
      request(x) {
        const identity = x.identity;
        // Anonymous on an optional route (or introspection failing open): nothing to grant scopes from.
        if (!identity) return invalidToken('token required for this route');
        for (const scope of scopes) if (!identity.scopes.has(scope)) return insufficientScope(scope);
        if (anyScopes && !anyScopes.some((s) => identity.scopes.has(s))) return insufficientScope(anyScopesText);
        for (const [name, accepted] of claims) {
          const value = identity.claims[name];
          const ok = Array.isArray(value) ? value.some((v) => accepted.has(String(v))) : value !== undefined && accepted.has(String(value));
          if (!ok) return insufficientScope(`claim ${name}`);
        }
        return undefined;
      },
    };
  },
};
