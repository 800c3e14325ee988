// Service endpoints in the store: a sidecar registers its instance under endpoints/<service>/<id> with a kept-alive
// lease (re-registered when lost, deregistered first on shutdown); EndpointSet mirrors them all with one watch.
import type { Store, Watcher } from './store.js';
import type { EndpointSource } from '../upstream/endpoints.js';
import { logger } from '../telemetry/log.js';

export const ENDPOINTS_PREFIX = 'endpoints/';
const DEFAULT_TTL_SECONDS = 10;
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;

const log = logger('endpoints');

export interface Endpoint {
  service: string;
  id: string;
  /** host:port of the instance's sidecar inbound listener. */
  address: string;
  meta?: Record<string, string>;
  registeredAt?: string;
}

export interface EndpointRegistration {
  service: string;
  id: string;
  address: string;
  meta?: Record<string, string>;
  /** Lease TTL: how long a dead instance stays listed; default 10 s. */
  ttlSeconds?: number;
}

export function endpointKey(service: string, id: string): string {
  return `${ENDPOINTS_PREFIX}${service}/${id}`;
}

/**
 * Register an instance under a lease kept alive by the store. Resolves after the first attempt; when the store is
 * unreachable, or the lease is lost later, it keeps re-registering with backoff until deregistered, and at once
 * when the store is reachable again: a lease lost while etcd was away (paused, cut off) is expired by etcd the moment
 * it answers, and every peer drops the endpoint until it is back, so that wait is at most a round trip, not a
 * backoff of up to RETRY_MAX_MS.
 */
export async function registerEndpoint(store: Store, reg: EndpointRegistration): Promise<{ deregister(): Promise<void> }> {
  const key = endpointKey(reg.service, reg.id);
  const value = JSON.stringify({
    service: reg.service,
    id: reg.id,
    address: reg.address,
    meta: reg.meta,
    registeredAt: new Date().toISOString(),
  } satisfies Endpoint);
  let lease: Awaited<ReturnType<Store['grantLease']>> | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let delay = RETRY_MIN_MS;

  const attempt = async (): Promise<void> => {
    timer = undefined;
    if (stopped) return;
    let granted: Awaited<ReturnType<Store['grantLease']>> | undefined;
    try {
      granted = await store.grantLease(reg.ttlSeconds ?? DEFAULT_TTL_SECONDS);
      const mine = granted;
      granted.onLost(() => {
        if (lease !== mine || stopped) return;
        lease = undefined;
        log.warn({ service: reg.service, id: reg.id }, 'endpoint lease lost; registering again');
        void attempt();
      });
      await granted.put(key, value);
      if (stopped) {
        await granted.revoke().catch(() => {});
        return;
      }
      lease = granted;
      delay = RETRY_MIN_MS;
      log.info({ service: reg.service, id: reg.id, address: reg.address }, 'endpoint registered');
    } catch (err) {
      // A lease granted but not written to would be kept alive for nothing.
      if (granted && lease !== granted) void granted.revoke().catch(() => {});
      if (stopped) return;
      log.warn({ service: reg.service, id: reg.id, err: (err as Error).message, retryMs: delay }, 'endpoint registration failed; retrying');
      timer = setTimeout(() => void attempt(), delay);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  };
  const offReachable = store.onReachable(() => {
    if (stopped || lease || timer === undefined) return; // registered, or an attempt is under way
    clearTimeout(timer);
    delay = RETRY_MIN_MS;
    void attempt();
  });
  await attempt();

  return {
    async deregister() {
      stopped = true;
      offReachable();
      clearTimeout(timer);
      const current = lease;
      lease = undefined;
      try {
        if (current) await current.revoke();
        else await store.delete(key);
        log.info({ service: reg.service, id: reg.id }, 'endpoint deregistered');
      } catch (err) {
        log.warn({ service: reg.service, id: reg.id, err: (err as Error).message }, 'could not deregister; the lease expires by itself');
      }
    },
  };
}

/** Accepts the JSON registerEndpoint writes, or a bare host:port (an endpoint put by hand with etcdctl). */
function parseEndpoint(service: string, id: string, value: string): Endpoint | undefined {
  const trimmed = value.trim();
  if (!trimmed.startsWith('{')) return trimmed ? { service, id, address: trimmed } : undefined;
  try {
    const parsed = JSON.parse(trimmed) as Partial<Endpoint>;
    if (typeof parsed.address !== 'string' || !parsed.address) return undefined;
    return { service, id, address: parsed.address, meta: parsed.meta, registeredAt: parsed.registeredAt };
  } catch {
    return undefined;
  }
}

/** Every registered endpoint of every service, from one watch on endpoints/; list() is cached per service. */
export class EndpointSet implements EndpointSource {
  private readonly byService = new Map<string, Map<string, Endpoint>>();
  private readonly addresses = new Map<string, readonly string[]>();
  private readonly listeners = new Set<(service: string) => void>();
  private watcher: Watcher | undefined;

  static async watch(store: Store): Promise<EndpointSet> {
    const set = new EndpointSet();
    set.watcher = await store.watch(ENDPOINTS_PREFIX, (event) => {
      if (event.type === 'reset') return set.reset();
      const [service, id] = splitKey(event.key);
      if (!service || !id) return;
      if (event.type === 'put') set.upsert(service, id, event.value);
      else set.remove(service, id);
    });
    return set;
  }

  /** host:port of each live instance of `service`, ordered by id; the same array until the set changes. */
  list(service: string): readonly string[] {
    let cached = this.addresses.get(service);
    if (!cached) {
      const endpoints = this.byService.get(service);
      cached = endpoints ? [...endpoints.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((e) => e.address) : [];
      this.addresses.set(service, cached);
    }
    return cached;
  }

  entries(service: string): Endpoint[] {
    return [...(this.byService.get(service)?.values() ?? [])].sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  services(): string[] {
    return [...this.byService.keys()].sort();
  }

  /** Called with the service name after its endpoints changed. */
  onChange(listener: (service: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    await this.watcher?.close();
    this.watcher = undefined;
  }

  private reset(): void {
    const services = [...this.byService.keys()];
    this.byService.clear();
    this.addresses.clear();
    // The puts that follow a reset arrive in the same tick; listeners hear about services that vanished.
    queueMicrotask(() => {
      for (const service of services) if (!this.byService.has(service)) this.changed(service);
    });
  }

  private upsert(service: string, id: string, value: string): void {
    const endpoint = parseEndpoint(service, id, value);
    if (!endpoint) {
      log.warn({ service, id }, 'ignoring an endpoint record without an address');
      return this.remove(service, id);
    }
    let endpoints = this.byService.get(service);
    if (!endpoints) this.byService.set(service, (endpoints = new Map()));
    endpoints.set(id, endpoint);
    this.changed(service);
  }

  private remove(service: string, id: string): void {
    const endpoints = this.byService.get(service);
    if (!endpoints?.delete(id)) return;
    if (endpoints.size === 0) this.byService.delete(service);
    this.changed(service);
  }

  private changed(service: string): void {
    this.addresses.delete(service);
    for (const listener of this.listeners) listener(service);
  }
}

function splitKey(key: string): [string | undefined, string | undefined] {
  const rest = key.slice(ENDPOINTS_PREFIX.length);
  const slash = rest.indexOf('/');
  return slash <= 0 ? [undefined, undefined] : [rest.slice(0, slash), rest.slice(slash + 1)];
}
