// Where a service's sidecars are: static addresses from the config, else those registered in the store.
import type { CompiledSnapshot } from '../config/compile.js';

export interface EndpointSource {
  /** host:port addresses of the service's sidecar inbound listeners currently registered. */
  list(service: string): readonly string[];
}

export const NO_ENDPOINTS: EndpointSource = { list: () => [] };

/** Static endpoints in routes.yaml win; otherwise discovery. */
export function endpointsOf(snapshot: CompiledSnapshot | undefined, discovered: EndpointSource, service: string): readonly string[] {
  const configured = snapshot?.services.get(service)?.endpoints;
  return configured && configured.length ? configured : discovered.list(service);
}
