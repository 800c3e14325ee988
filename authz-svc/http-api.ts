// authz-svc's HTTP API (7070): /.well-known/jwks.json and the admin API under /v1 (Bearer admin token), served on
// the node's admin listener (which adds /healthz /readyz /metrics /config).
import type http from 'node:http';
import { randomUUID } from 'node:crypto';
import { errorBody, meshError, type ErrorCode } from '../core/errors.js';
import { startAdmin, type ReadyState } from '../core/http/admin-server.js';
import { logger } from '../core/telemetry/log.js';
import type { AdminCredential } from './admin-auth.js';
import type { SigningKeys } from './signing-keys.js';
import { InvalidField, IssueBody, RevokeBody, validateBody, type TokenService } from './token-service.js';
import { OpaqueStoreUnavailable } from './opaque-tokens.js';

const log = logger('authz-http');
const MAX_BODY = 64 * 1024;

export interface HttpApiOptions {
  host: string;
  port: number;
  service: TokenService;
  keys: SigningKeys;
  admin: AdminCredential;
  ready: () => ReadyState;
  /** What /config shows (no secrets). */
  config: () => unknown;
}

export interface HttpApi {
  port: number;
  close(): Promise<void>;
}

class HttpFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

function sendError(res: http.ServerResponse, code: ErrorCode, message: string, requestId: string, headers: Record<string, string> = {}): void {
  const err = meshError(code, message, headers);
  const text = errorBody(err, requestId);
  res.writeHead(err.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...err.headers });
  res.end(text);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new HttpFailure('bad_request', 'content-type must be application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpFailure('payload_too_large', `body exceeds ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpFailure('bad_request', 'body is not valid JSON');
  }
}

export async function startHttpApi(o: HttpApiOptions): Promise<HttpApi> {
  const admin = await startAdmin({
    host: o.host,
    port: o.port,
    role: 'authz',
    ready: o.ready,
    config: o.config,
    extra: async (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/.well-known/jwks.json' && !path.startsWith('/v1/')) return false;
      const requestId = randomUUID();
      await handle(o, req, res, requestId).catch((err: unknown) => {
        if (err instanceof HttpFailure) return sendError(res, err.code, err.message, requestId, err.headers);
        if (err instanceof InvalidField) return sendError(res, 'bad_request', err.message, requestId);
        if (err instanceof OpaqueStoreUnavailable) return sendError(res, 'auth_unavailable', 'the opaque token store is unavailable', requestId, { 'retry-after': '1' });
        log.error({ err, path }, 'authz request failed');
        if (!res.headersSent) sendError(res, 'internal', 'the request failed', requestId);
        else res.destroy();
      });
      return true;
    },
  });
  // Slow or stuck clients of the admin API do not hold sockets forever.
  admin.server.requestTimeout = 10_000;
  admin.server.headersTimeout = 5_000;
  return {
    port: admin.port,
    close: async () => {
      admin.server.closeIdleConnections();
      await admin.close();
    },
  };
}

async function handle(o: HttpApiOptions, req: http.IncomingMessage, res: http.ServerResponse, requestId: string): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://authz');
  const path = url.pathname;
  const method = req.method ?? 'GET';

  // Public: the JWKS (RFC 7517 §5), for verifiers outside the mesh.
  if (path === '/.well-known/jwks.json') {
    if (method !== 'GET' && method !== 'HEAD') throw new HttpFailure('no_route', `no ${method} ${path}`);
    return send(res, 200, o.keys.jwks(), { 'cache-control': 'public, max-age=60', 'content-type': 'application/jwk-set+json' });
  }
  if (!path.startsWith('/v1/')) throw new HttpFailure('no_route', 'unknown endpoint');

  // Everything under /v1 is admin: RFC 6750 §3 — no credential → 401 with a challenge, a wrong one → 403.
  const check = o.admin.check(req.headers.authorization, { method, path, client: req.socket.remoteAddress, requestId });
  if (check === 'missing') throw new HttpFailure('invalid_token', 'admin credential required', { 'www-authenticate': 'Bearer realm="meshgate-authz"' });
  if (check === 'wrong') throw new HttpFailure('forbidden', 'admin credential not accepted');

  const route = `${method} ${path}`;
  switch (route) {
    case 'POST /v1/tokens': {
      const body = validateBody(IssueBody, await readJson(req));
      return send(res, 201, await o.service.issue(body));
    }
    case 'POST /v1/introspect': {
      const body = (await readJson(req)) as { token?: unknown };
      if (typeof body?.token !== 'string' || !body.token) throw new InvalidField('token', 'must be a non-empty string');
      return send(res, 200, await o.service.introspect(body.token));
    }
    case 'POST /v1/revocations': {
      const body = validateBody(RevokeBody, await readJson(req));
      return send(res, 201, await o.service.revoke(body));
    }
    case 'GET /v1/revocations':
      return send(res, 200, { revocations: await o.service.listRevocations(url.searchParams.get('kind') ?? undefined) });
    case 'POST /v1/keys/rotate':
      return send(res, 200, await o.service.rotate());
    case 'GET /v1/keys':
      return send(res, 200, { active: o.keys.kid, keys: o.keys.records() });
    default:
      throw new HttpFailure('no_route', `no ${method} ${path}`);
  }
}
