// The registry service (`meshgate registry`, HTTP 7090): JSON read API over the live snapshot, history, nodes,
// endpoints and rollout, served from watches; token-protected admin endpoints to apply and roll back.
import type http from 'node:http';
import { timingSafeEqual, createHash, randomUUID } from 'node:crypto';
import { startAdmin, type AdminServer } from '../core/http/admin-server.js';
import { CONFIG_KEY, NODES_PREFIX, type NodeRecord } from '../core/config/config-watch.js';
import { MAX_CONFIG_FILE_BYTES, parseConfigBytes } from '../core/config/load.js';
import { formatErrors, ConfigInvalidError } from '../core/config/check.js';
import type { SnapshotRecord } from '../core/config/snapshot.js';
import type { Store, Watcher } from '../core/store/store.js';
import { logger } from '../core/telemetry/log.js';
import { EndpointSet } from '../core/store/endpoints.js';
import { liveView, parseNodes, rollout, type LiveView } from './node-status.js';
import { ApplyConflictError, RemovalRefusedError, SnapshotNotKeptError, publishSnapshot, readHistory, readLive, rollbackSnapshot } from './publish.js';
import { diffConfigs } from './diff.js';

const log = logger('registry');
/** A body past the largest config file is not read to the end. */
const MAX_BODY_BYTES = MAX_CONFIG_FILE_BYTES;

export interface RegistryOptions {
  store: Store;
  host?: string;
  port: number;
  /** Bearer token for POST /v1/apply and /v1/rollback; unset = admin endpoints disabled. */
  adminToken?: string;
}

export interface RegistryServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** A snapshot version in the query string: absent, or a whole number (400 naming the parameter otherwise). */
function versionParam(url: URL, name: string): number | undefined {
  const value = url.searchParams.get(name);
  if (value === null) return undefined;
  if (!/^\d{1,15}$/.test(value)) throw new HttpError(400, 'bad_request', `${name} must be a whole number, got ${JSON.stringify(value.slice(0, 40))}`);
  return Number(value);
}

/** A percent-encoded path segment; malformed encoding is the caller's error (400), not the registry's. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, 'bad_request', 'malformed percent-encoding in the path');
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'payload_too_large', `the config exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function digestOf(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

export async function startRegistry(o: RegistryOptions): Promise<RegistryServer> {
  let live: SnapshotRecord | undefined;
  /** config/current as the nodes judge it, for /v1/rollout (a record they refuse is named as such). */
  let liveJudged: LiveView | undefined;
  const nodes = new Map<string, string>();
  const watchers: Watcher[] = [];
  const endpoints = await EndpointSet.watch(o.store);
  watchers.push(
    await o.store.watch(CONFIG_KEY, (event) => {
      if (event.type === 'reset' || event.key !== CONFIG_KEY) return;
      liveJudged = liveView(event.type === 'put' ? event.value : undefined);
      if (event.type === 'delete') live = undefined;
      else
        try {
          live = JSON.parse(event.value) as SnapshotRecord;
        } catch {
          log.warn('config/current does not parse; the read API shows the last one that did');
        }
    }),
    await o.store.watch(NODES_PREFIX, (event) => {
      if (event.type === 'reset') nodes.clear();
      else if (event.type === 'put') nodes.set(event.key, event.value);
      else nodes.delete(event.key);
    }),
  );
  const adminDigest = o.adminToken ? digestOf(o.adminToken) : undefined;

  const requireAdmin = (req: http.IncomingMessage) => {
    if (!adminDigest) throw new HttpError(403, 'forbidden', 'admin endpoints are disabled: start the registry with MESHGATE_ADMIN_TOKEN');
    const header = req.headers.authorization ?? '';
    const token = /^Bearer (.+)$/i.exec(header)?.[1];
    if (!token || !timingSafeEqual(digestOf(token), adminDigest)) throw new HttpError(401, 'invalid_token', 'a valid admin bearer token is required');
  };

  const meta = (r: SnapshotRecord) => ({ version: r.version, digest: r.digest, author: r.author, message: r.message, createdAt: r.createdAt });

  const routes = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> => {
    const url = new URL(req.url ?? '/', 'http://registry');
    const path = url.pathname;
    if (!path.startsWith('/v1/')) return false;
    const requestId = randomUUID();
    try {
      if (req.method === 'GET' && path === '/v1/snapshot') {
        if (!live) throw new HttpError(404, 'no_snapshot', 'no snapshot has been applied');
        send(res, 200, live);
      } else if (req.method === 'GET' && path === '/v1/snapshots') {
        send(res, 200, { live: live?.version, snapshots: (await readHistory(o.store)).map(meta) });
      } else if (req.method === 'GET' && path === '/v1/nodes') {
        send(res, 200, { nodes: parseNodes(nodes) });
      } else if (req.method === 'GET' && (path === '/v1/endpoints' || path.startsWith('/v1/endpoints/'))) {
        const only = path.slice('/v1/endpoints/'.length);
        const services = only ? [decodePathSegment(only)] : endpoints.services();
        send(res, 200, { services: Object.fromEntries(services.map((s) => [s, endpoints.entries(s)])) });
      } else if (req.method === 'GET' && path === '/v1/rollout') {
        const wanted = versionParam(url, 'version');
        const nodeList: NodeRecord[] = parseNodes(nodes);
        send(res, 200, rollout(nodeList, liveJudged, wanted ?? liveJudged?.version));
      } else if (req.method === 'POST' && path === '/v1/apply') {
        requireAdmin(req);
        // As a file is read: UTF-8 only, at most MAX_CONFIG_FILE_BYTES, at most MAX_REPORTED_ERRORS listed.
        const { config, errors } = parseConfigBytes(await readBody(req));
        if (!config) throw new HttpError(400, 'invalid_config', `the config has ${errors.length} error(s)`, { errors: formatErrors(errors) });
        const expect = versionParam(url, 'expectVersion');
        const current = await readLive(o.store);
        const result = await publishSnapshot(o.store, config, {
          author: url.searchParams.get('author') ?? 'registry api',
          message: url.searchParams.get('message') ?? '',
          allowRemovals: url.searchParams.get('allowRemovals') === 'true',
          expectVersion: expect,
        });
        send(res, 200, { ...result, diff: diffConfigs(current.record?.config, config) });
      } else if (req.method === 'POST' && path === '/v1/rollback') {
        requireAdmin(req);
        send(res, 200, await rollbackSnapshot(o.store, { version: versionParam(url, 'version'), author: 'registry api' }));
      } else {
        throw new HttpError(404, 'no_route', `no ${req.method} ${path} in the registry API`);
      }
    } catch (err) {
      const e =
        err instanceof HttpError
          ? err
          : err instanceof ApplyConflictError
            ? new HttpError(409, 'apply_conflict', err.message)
            : err instanceof RemovalRefusedError
              ? new HttpError(409, 'removal_refused', err.message, { removed: err.removed })
              : err instanceof SnapshotNotKeptError
                ? new HttpError(404, 'not_kept', err.message)
              : err instanceof ConfigInvalidError
                ? new HttpError(400, 'invalid_config', err.message, { errors: formatErrors(err.errors) })
                : undefined;
      if (!e) {
        log.error({ err, path }, 'registry request failed');
        send(res, o.store.connected ? 500 : 503, { error: { code: o.store.connected ? 'internal' : 'store_unavailable', message: (err as Error).message, requestId } });
      } else send(res, e.status, { error: { code: e.code, message: e.message, requestId, ...e.detail } });
    }
    return true;
  };

  let admin: AdminServer;
  try {
    admin = await startAdmin({
      host: o.host,
      port: o.port,
      role: 'registry',
      ready: () => ({ ready: o.store.connected, detail: { store: o.store.connected ? 'connected' : 'unreachable', liveVersion: live?.version } }),
      config: () => ({ role: 'registry', liveVersion: live?.version, liveDigest: live?.digest, nodes: nodes.size }),
      extra: routes,
    });
  } catch (err) {
    await Promise.all(watchers.map((w) => w.close()));
    await endpoints.close();
    throw err;
  }
  const host = o.host ?? '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${admin.port}`;
  log.info({ url, admin: Boolean(adminDigest) }, 'registry listening');
  return {
    port: admin.port,
    url,
    async close() {
      await admin.close();
      await Promise.all(watchers.map((w) => w.close()));
      await endpoints.close();
    },
  };
}
