// Endpoint choice for a service: round robin over the service's live endpoints (the resilience work adds
// power-of-two-choices on outstanding requests weighted by EWMA latency).
import { MeshError } from '../errors.js';
import type { EndpointSource } from './endpoints.js';
import { endpointsOf } from './endpoints.js';
import type { Layer } from './upstream.js';

export function roundRobin(discovered: EndpointSource): Layer {
  const cursors = new Map<string, number>();
  return (next) => (x) => {
    const list = endpointsOf(x.snapshot, discovered, x.service);
    if (list.length === 0) return Promise.reject(new MeshError('no_endpoint', `No endpoint serves "${x.service}".`));
    const i = (cursors.get(x.service) ?? 0) % list.length;
    cursors.set(x.service, i + 1);
    x.upstreamAddress = list[i];
    x.attempts++;
    return next(x);
  };
}
