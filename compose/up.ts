// `meshgate up`: the whole mesh in one process on the in-memory store — authz, quota, registry, three demo
// apps each with its own sidecar, and the edge — serving compose/routes.yaml and reloading it on change.
import { randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { MemoryStore } from '../core/store/memory-store.js';
import type { Store } from '../core/store/store.js';
import { readConfigFile } from '../core/config/load.js';
import { ConfigInvalidError, formatErrors } from '../core/config/check.js';
import type { MeshConfig } from '../core/config/schema.js';
import { logger } from '../core/telemetry/log.js';
import { initTracing, shutdownTracing } from '../core/telemetry/tracing.js';
import { startEdge, type EdgeNode } from '../edge/main.js';
import { startSidecar, type SidecarNode } from '../sidecar/main.js';
import { startAuthz } from '../authz-svc/main.js';
import { startQuota } from '../quota-svc/main.js';
import { publishSnapshot } from '../registry/publish.js';
import { startRegistry } from '../registry/main.js';
import { EndpointSet, registerEndpoint } from '../core/store/endpoints.js';
import { startEcho, startInventory, startOrders, type DemoApp } from './demo/apps.js';

export interface UpOptions {
  config: string;
  host: string;
  /** 0 everywhere: free ports (tests, several meshes on one machine). */
  ephemeral: boolean;
  edgeHttpPort: number;
  edgeHttpsPort: number;
  edgeAdminPort: number;
  authzHttpPort: number;
  authzGrpcPort: number;
  quotaHttpPort: number;
  quotaGrpcPort: number;
  registryPort: number;
  adminToken?: string;
  issuer: string;
  stateDir: string;
  watch: boolean;
}

export interface Mesh {
  store: Store;
  edge: EdgeNode;
  sidecars: Record<string, SidecarNode>;
  urls: Record<string, string>;
  devToken: string;
  adminToken: string;
  close(): Promise<void>;
}

const log = logger('up');

export async function up(o: UpOptions): Promise<Mesh> {
  const port = (p: number) => (o.ephemeral ? 0 : p);
  // Config first: every node starts from a snapshot, so nothing serves half-configured; an invalid file starts nothing.
  // Read as validate reads a file: at most 2 MiB, UTF-8 only, at most 50 errors reported.
  const first = await readConfigFile(o.config);
  if (!first.config) throw new ConfigInvalidError(first.errors, o.config);

  initTracing({ serviceName: 'meshgate' });
  const store = new MemoryStore();
  // Everything started, in order; closed in reverse by close(), and by a start that fails partway.
  const closers: (() => Promise<void>)[] = [() => shutdownTracing(), () => store.close()];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close().catch((err: Error) => log.warn({ err: err.message }, 'close step failed'));
  };
  try {
    return await startMesh(o, port, store, first.config, closers, closeAll);
  } catch (err) {
    await closeAll();
    throw err;
  }
}

async function startMesh(
  o: UpOptions,
  port: (p: number) => number,
  store: Store,
  initial: MeshConfig,
  closers: (() => Promise<void>)[],
  closeAll: () => Promise<void>,
): Promise<Mesh> {
  await mkdir(o.stateDir, { recursive: true });
  const publish = async (config: MeshConfig, reason: string) => {
    const result = await publishSnapshot(store, config, { author: 'meshgate up', message: reason, allowRemovals: true });
    if (!result.unchanged) log.info({ version: result.version, digest: result.digest, reason }, 'config applied');
  };
  const applyFile = async (reason: string): Promise<void> => {
    const { config, errors } = await readConfigFile(o.config);
    if (!config) {
      log.error({ file: o.config, errors: formatErrors(errors, o.config) }, `config rejected (${reason}); the previous one keeps serving`);
      return;
    }
    await publish(config, reason);
  };
  await publish(initial, 'start');

  const adminToken = o.adminToken ?? randomBytes(24).toString('base64url');
  const authz = await startAuthz({
    store,
    host: o.host,
    httpPort: port(o.authzHttpPort),
    grpcPort: port(o.authzGrpcPort),
    adminToken,
    issuer: o.issuer,
  });
  closers.push(() => authz.close());
  const quota = await startQuota({ host: o.host, grpcPort: port(o.quotaGrpcPort), httpPort: port(o.quotaHttpPort) });
  closers.push(() => quota.close());
  const registry = await startRegistry({ store, host: o.host, port: port(o.registryPort) });
  closers.push(() => registry.close());

  const endpoints = await EndpointSet.watch(store);
  closers.push(() => endpoints.close());
  const register = (service: string, id: string, address: string) => registerEndpoint(store, { service, id, address });

  const sidecars: Record<string, SidecarNode> = {};
  const apps: DemoApp[] = [];
  // The sidecars drain together (each waits out its deregistration), then their apps go.
  closers.push(async () => void (await Promise.all(apps.map((a) => a.close()))));
  closers.push(async () => void (await Promise.all(Object.values(sidecars).map((s) => s.close()))));
  const attach = async (service: string, app: DemoApp) => {
    apps.push(app);
    sidecars[service] = await startSidecar({
      store,
      endpoints,
      service,
      app: `${o.host}:${app.port}`,
      host: o.host,
      inboundPort: 0,
      outboundPort: 0,
      adminPort: 0,
      stateDir: o.stateDir,
      register,
      quotaAddress: `${o.host}:${quota.grpcPort}`,
      authzAddress: `${o.host}:${authz.grpcPort}`,
    });
  };
  await attach('echo', await startEcho(o.host));
  await attach('inventory', await startInventory(o.host));
  await attach('orders', await startOrders(() => `${o.host}:${sidecars.orders.outboundPort}`, o.host));

  const edge = await startEdge({
    store,
    endpoints,
    host: o.host,
    httpPort: port(o.edgeHttpPort),
    httpsPort: port(o.edgeHttpsPort),
    adminPort: port(o.edgeAdminPort),
    stateDir: o.stateDir,
  });
  closers.push(() => edge.close());

  if (o.watch) {
    let timer: NodeJS.Timeout | undefined;
    // The directory, not the file: an editor's atomic save or `sed -i` renames a new file over the old one (and a
    // file can be deleted and written again), which ends a watch on the file's inode for good.
    const name = basename(o.config);
    const watcher = watch(dirname(o.config), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      // Editors write in several steps (truncate, write, rename): settle, then validate the whole file once.
      clearTimeout(timer);
      timer = setTimeout(
        () =>
          void applyFile(`${o.config} changed`).catch((err: NodeJS.ErrnoException) =>
            err.code === 'ENOENT' ? log.warn({ file: o.config }, 'config file is gone; the current config keeps serving') : log.error({ err }, 'reload failed'),
          ),
        150,
      );
    });
    closers.push(async () => {
      clearTimeout(timer);
      watcher.close();
    });
  }

  const devToken = await authz.keys.issue({ sub: 'dev-user', scope: 'echo:read orders:read', ttlSeconds: 3600, clientId: 'meshgate-up' });
  const h = o.host.includes(':') ? `[${o.host}]` : o.host;
  const urls = {
    edge: `http://${h}:${edge.httpPort}`,
    edgeTls: `https://${h}:${edge.httpsPort}`,
    edgeAdmin: `http://${h}:${edge.adminPort}`,
    authz: `http://${h}:${authz.httpPort}`,
    quota: `http://${h}:${quota.httpPort}`,
    registry: `http://${h}:${registry.port}`,
  };
  return {
    store,
    edge,
    sidecars,
    urls,
    devToken,
    adminToken,
    close: closeAll,
  };
}
