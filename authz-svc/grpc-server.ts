// authz-svc's gRPC API (7071, proto/authz.proto): Introspect for sidecars; IssueToken, Revoke, ListRevocations, RotateKey for admins.
import * as grpc from '@grpc/grpc-js';
import { logger } from '../core/telemetry/log.js';
import { authzProto, type AuthzHandlers, type RevocationMessage } from '../core/auth/authz-proto.js';
import type { RevocationRecord } from '../core/auth/revocation-record.js';
import type { AdminCredential } from './admin-auth.js';
import { InvalidField, IssueBody, RevokeBody, validateBody, type TokenService } from './token-service.js';
import { OpaqueStoreUnavailable } from './opaque-tokens.js';

const log = logger('authz-grpc');

export interface AuthzGrpcServer {
  port: number;
  close(): Promise<void>;
}

function toStatus(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof InvalidField) return { code: grpc.status.INVALID_ARGUMENT, details: err.message };
  if (err instanceof OpaqueStoreUnavailable) return { code: grpc.status.UNAVAILABLE, details: 'the opaque token store is unavailable' };
  log.error({ err }, 'authz rpc failed');
  return { code: grpc.status.INTERNAL, details: 'the call failed' };
}

function revocationMessage(r: RevocationRecord): RevocationMessage {
  return { kind: r.kind, id: r.id, before: r.before ?? 0, revokedAt: r.revokedAt, expiresAt: r.expiresAt, reason: r.reason ?? '' };
}

function parseClaims(text: string): Record<string, unknown> | undefined {
  if (!text) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidField('claimsJson', 'is not valid JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new InvalidField('claimsJson', 'must be a JSON object');
  return value as Record<string, unknown>;
}

/** Zero / empty proto3 defaults mean "not set". */
function unset<T>(value: T): T | undefined {
  return value === '' || value === 0 ? undefined : value;
}

export function authzHandlers(service: TokenService, admin: AdminCredential): AuthzHandlers {
  /** Admin RPCs: metadata `authorization: Bearer …`; missing → UNAUTHENTICATED, wrong → PERMISSION_DENIED. */
  function authorize(call: grpc.ServerUnaryCall<unknown, unknown>, method: string): Partial<grpc.StatusObject> | undefined {
    const value = call.metadata.get('authorization')[0];
    const check = admin.check(typeof value === 'string' ? value : undefined, { rpc: method, client: call.getPeer() });
    if (check === 'missing') return { code: grpc.status.UNAUTHENTICATED, details: 'admin credential required' };
    if (check === 'wrong') return { code: grpc.status.PERMISSION_DENIED, details: 'admin credential not accepted' };
    return undefined;
  }

  function unary<Req, Res>(method: string, isAdmin: boolean, run: (request: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const denied = isAdmin ? authorize(call as grpc.ServerUnaryCall<unknown, unknown>, method) : undefined;
      if (denied) return callback(denied);
      run(call.request).then(
        (res) => callback(null, res),
        (err: unknown) => callback(toStatus(err)),
      );
    };
  }

  return {
    Introspect: unary('Introspect', false, async (request) => {
      const r = await service.introspect(request.token);
      if (!r.active) return { active: false };
      return {
        active: true,
        sub: r.sub,
        scope: r.scope ?? '',
        clientId: r.clientId ?? '',
        iss: r.iss ?? '',
        aud: r.aud ?? [],
        exp: r.exp ?? 0,
        iat: r.iat ?? 0,
        claimsJson: r.claims ? JSON.stringify(r.claims) : '',
      };
    }),
    IssueToken: unary('IssueToken', true, async (request) => {
      const body = validateBody(IssueBody, {
        sub: request.sub,
        ...(unset(request.scope) && { scope: request.scope }),
        ...(request.aud.length && { aud: request.aud }),
        ...(unset(request.ttlSeconds) && { ttlSeconds: request.ttlSeconds }),
        ...(unset(request.clientId) && { clientId: request.clientId }),
        ...(request.claimsJson && { claims: parseClaims(request.claimsJson) }),
        type: request.type === 'TOKEN_TYPE_OPAQUE' ? 'opaque' : 'jwt',
      });
      const issued = await service.issue(body);
      return {
        token: issued.token,
        type: issued.type === 'opaque' ? 'TOKEN_TYPE_OPAQUE' : 'TOKEN_TYPE_JWT',
        expiresAt: issued.expiresAt,
        jti: issued.jti ?? '',
        kid: issued.kid ?? '',
      };
    }),
    Revoke: unary('Revoke', true, async (request) => {
      if (!request.target) throw new InvalidField('target', 'exactly one of jti, sub, kid, token, tokenHash is required');
      const body = validateBody(RevokeBody, {
        [request.target]: request[request.target],
        ...(unset(request.before) !== undefined && { before: request.before }),
        ...(unset(request.expiresAt) !== undefined && { expiresAt: request.expiresAt }),
        ...(unset(request.reason) && { reason: request.reason }),
      });
      return revocationMessage(await service.revoke(body));
    }),
    ListRevocations: unary('ListRevocations', true, async (request) => ({
      revocations: (await service.listRevocations(unset(request.kind))).map(revocationMessage),
    })),
    RotateKey: unary('RotateKey', true, async () => service.rotate()),
  };
}

export async function startAuthzGrpc(service: TokenService, admin: AdminCredential, host: string, port: number): Promise<AuthzGrpcServer> {
  const server = new grpc.Server();
  server.addService(authzProto().Authz.service, authzHandlers(service, admin));
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => (clearTimeout(force), resolve()));
      }),
  };
}
