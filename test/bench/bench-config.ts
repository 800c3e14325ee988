// The mesh config every bench target serves: one full-chain route (auth + scopes, local quota, header transform)
// for the `bench` service among decoy routes, so route lookup works on a table of realistic size.
import type { MeshConfig } from '../../core/config/schema.js';

export const BENCH_ISSUER = 'https://bench.meshgate.local';
export const BENCH_SERVICE = 'bench';
export const BENCH_PATH = '/bench/items';
export const BENCH_SCOPE = 'bench:read';
/** Decoy routes ahead of the bench route in the table (other services, other paths). */
export const DECOY_ROUTES = 49;

/** `sidecarAddress`: host:port of the bench sidecar, as a static endpoint for the edge. */
export function benchConfig(sidecarAddress?: string): MeshConfig {
  const decoys = Array.from({ length: DECOY_ROUTES }, (_, i) => ({
    name: `decoy-${i}`,
    matches: [{ path: { type: 'PathPrefix' as const, value: `/decoy-${i}` } }],
    backendRefs: [{ name: 'other' }],
  }));
  return {
    apiVersion: 'meshgate/v1',
    issuers: [{ issuer: BENCH_ISSUER }],
    services: [
      { name: BENCH_SERVICE, timeouts: { request: '10s' }, ...(sidecarAddress ? { endpoints: [sidecarAddress] } : {}) },
      { name: 'other', timeouts: { request: '10s' } },
    ],
    routes: [
      ...decoys,
      {
        name: 'bench',
        matches: [{ path: { type: 'PathPrefix', value: '/bench' } }],
        backendRefs: [{ name: BENCH_SERVICE }],
        auth: { scopes: [BENCH_SCOPE] },
        // A limit no bench run reaches: the local bucket is taken on every request, never refuses.
        quota: [{ limit: 1_000_000_000, window: 'second', key: ['claim:sub'], scope: 'local' }],
        filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-bench', value: '1' }] } }],
      },
    ],
  } as MeshConfig;
}
