// An in-process mesh for resilience tests: MemoryStore, a published config, one edge, and any number of
// sidecar + fake-upstream instances per service registered through the store (EndpointSet), so instances can
// be stopped, restarted or faulted while traffic flows.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import type { MeshConfig } from '../../core/config/schema.js';
import { MemoryStore } from '../../core/store/memory-store.js';
import { startEdge, type EdgeNode } from '../../edge/main.js';
import { startSidecar, type SidecarNode } from '../../sidecar/main.js';
import { publishSnapshot } from '../../registry/publish.js';
import { EndpointSet, registerEndpoint } from '../../core/store/endpoints.js';
import { startFakeUpstream, type FakeUpstream, type FaultMode } from './fake-upstream.js';

export interface Instance {
  service: string;
  app: FakeUpstream;
  sidecar: SidecarNode;
}

export interface Mesh {
  store: MemoryStore;
  endpoints: EndpointSet;
  edge: EdgeNode;
  edgeUrl: string;
  instances: Instance[];
  /** Start a fake app and its sidecar, registered under endpoints/<service>/<id>. */
  addInstance(service: string, mode?: FaultMode, name?: string): Promise<Instance>;
  /** Drain the sidecar (readiness off, deregister, finish in-flight), then stop its app. */
  stopInstance(instance: Instance): Promise<void>;
  get(path: string, init?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string; json: () => any }>;
  admin(path: string): Promise<any>;
  close(): Promise<void>;
}

export async function startMesh(config: MeshConfig, options: { drainDelayMs?: number } = {}): Promise<Mesh> {
  const stateDir = mkdtempSync(join(tmpdir(), 'meshgate-resilience-'));
  const store = new MemoryStore();
  await publishSnapshot(store, config, { allowRemovals: true, author: 'test', message: 'resilience' });
  const endpoints = await EndpointSet.watch(store);
  const register = (service: string, id: string, address: string) => registerEndpoint(store, { service, id, address });
  const edge = await startEdge({ store, endpoints, httpPort: 0, httpsPort: null, adminPort: 0, stateDir, graceMs: 5_000 });
  const edgeUrl = `http://127.0.0.1:${edge.httpPort}`;
  const instances: Instance[] = [];
  let n = 0;

  const mesh: Mesh = {
    store,
    endpoints,
    edge,
    edgeUrl,
    instances,
    async addInstance(service, mode = 'ok', name) {
      const app = await startFakeUpstream(name ?? `${service}-${++n}`, mode);
      const sidecar = await startSidecar({
        store,
        endpoints,
        service,
        app: app.address,
        inboundPort: 0,
        outboundPort: 0,
        adminPort: 0,
        stateDir,
        register,
        graceMs: 5_000,
        ...(options.drainDelayMs !== undefined ? { drainDelayMs: options.drainDelayMs } : {}),
      });
      const instance = { service, app, sidecar };
      instances.push(instance);
      return instance;
    },
    async stopInstance(instance) {
      await instance.sidecar.close();
      await instance.app.close();
      instances.splice(instances.indexOf(instance), 1);
    },
    async get(path, init = {}) {
      const res = await request(`${edgeUrl}${path}`, { method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body });
      const body = await res.body.text();
      return { status: res.statusCode, body, json: () => JSON.parse(body) };
    },
    async admin(path) {
      const res = await request(`http://127.0.0.1:${edge.adminPort}${path}`);
      const text = await res.body.text();
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
    },
    async close() {
      for (const i of [...instances]) {
        await i.sidecar.close();
        await i.app.close();
      }
      await edge.close();
      await endpoints.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return mesh;
}
