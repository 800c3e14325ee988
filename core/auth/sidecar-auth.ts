// Start what a sidecar needs for auth: the key and revocation mirrors, the token cache, and eviction on revocation.
import type { Store, WatchEvent } from '../store/store.js';
import { KeySet } from './key-set.js';
import { RevocationList } from './revocation-list.js';
import { TokenCache, type TokenCacheOptions } from './token-cache.js';
import { DEFAULT_AUTH_SETTINGS, type AuthSettings, type SidecarAuthDeps } from './token-verifier.js';
import type { Introspector } from './introspection.js';

export interface SidecarAuthOptions {
  settings?: Partial<AuthSettings>;
  cache?: TokenCacheOptions;
  /** Store unreachable longer than this → authenticated routes answer 503 auth_unavailable (default 10 s). */
  staleAfterMs?: number;
  introspect?: Introspector;
  /**
   * Whether the node serves a route that authenticates (any route with an `auth` policy). When it does not, the
   * auth state does not hold readiness: a node with only public routes is ready without keys, as an Envoy listener
   * without a JWT filter does not wait for a JWKS. Default: it does.
   */
  authenticates?: () => boolean;
  now?: () => number;
}

export interface SidecarAuth {
  deps: SidecarAuthDeps;
  /**
   * For /readyz: keys held, revocations held, whether both were loaded from the store, store connection,
   * staleness. `ready` is false while authenticated routes answer 503 auth_unavailable: keys and revocations
   * never loaded (a start from the last-known-good config while the store is down), or the store unreachable past
   * the bound. That makes the node report not ready, unless it serves no route that authenticates.
   */
  status(): {
    ready: boolean;
    keys: number;
    revocations: number;
    loaded: boolean;
    storeConnected: boolean;
    stale: boolean;
    disconnectedForMs: number;
    /** The bound: store unreachable longer than this → stale. */
    staleAfterMs: number;
    cachedTokens: number;
  };
  close(): Promise<void>;
}

export async function startSidecarAuth(store: Store, options: SidecarAuthOptions = {}): Promise<SidecarAuth> {
  const now = options.now ?? Date.now;
  // The key set watches through a view that notes its first read of `keys/`: before it, a token's key is unknown
  // rather than absent, so the revocation list counts as not loaded and authentication fails closed (503), as it
  // does before `revoked/` is read.
  let keysLoaded = false;
  const keyStore = new Proxy(store, {
    get: (target, prop) =>
      prop === 'watch'
        ? (prefix: string, listener: (event: WatchEvent) => void) =>
            target.watch(prefix, (event) => {
              if (event.type === 'reset') keysLoaded = true;
              listener(event);
            })
        : Reflect.get(target, prop, target),
  });
  const [keys, revocations] = await Promise.all([
    KeySet.watch(keyStore, { now }),
    RevocationList.watch(store, { staleAfterMs: options.staleAfterMs, now, othersLoaded: () => keysLoaded }),
  ]);
  const cache = new TokenCache({ ...options.cache, now });
  // Each hit re-checks revocation anyway; evicting as well frees the memory at once (off the request path).
  const unsubscribe = revocations.onRevoked((r) => {
    if (r.kind === 'opaque') cache.delete(r.id);
    else if (r.kind === 'jti') cache.evict((t) => t.jti === r.id);
    else if (r.kind === 'kid') cache.evict((t) => t.kid === r.id);
    else cache.evict((t) => t.sub === r.id && (t.iat === undefined || t.iat < (r.before ?? Infinity)));
  });
  const deps: SidecarAuthDeps = {
    keys,
    revocations,
    introspect: options.introspect,
    cache,
    settings: { ...DEFAULT_AUTH_SETTINGS, ...options.settings },
    now,
  };
  return {
    deps,
    status: () => {
      const mirror = revocations.status();
      const authenticates = options.authenticates?.() ?? true;
      return { ready: !mirror.stale || !authenticates, keys: keys.size, ...mirror, cachedTokens: cache.size };
    },
    close: async () => {
      unsubscribe();
      await Promise.all([keys.close(), revocations.close()]);
      cache.clear();
    },
  };
}
