// Start what a sidecar needs for auth: the key and revocation mirrors, the token cache, and eviction on revocation.
import type { Store } from '../store/store.js';
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
  now?: () => number;
}

export interface SidecarAuth {
  deps: SidecarAuthDeps;
  /**
   * For /readyz: keys held, revocations held, store connection, staleness. `ready` is false while the revocation
   * mirror is stale (authenticated routes answer 503 auth_unavailable), which makes the node report not ready.
   */
  status(): { ready: boolean; keys: number; revocations: number; storeConnected: boolean; stale: boolean; disconnectedForMs: number; cachedTokens: number };
  close(): Promise<void>;
}

export async function startSidecarAuth(store: Store, options: SidecarAuthOptions = {}): Promise<SidecarAuth> {
  const now = options.now ?? Date.now;
  const [keys, revocations] = await Promise.all([
    KeySet.watch(store, { now }),
    RevocationList.watch(store, { staleAfterMs: options.staleAfterMs, now }),
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
      return { ready: !mirror.stale, keys: keys.size, ...mirror, cachedTokens: cache.size };
    },
    close: async () => {
      unsubscribe();
      await Promise.all([keys.close(), revocations.close()]);
      cache.clear();
    },
  };
}
