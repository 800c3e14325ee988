// Test fixtures for the quota stages: a compiled route from inline quota policies and a fake request exchange.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { compileConfig, type CompiledRoute, type CompiledSnapshot } from '../../core/config/compile.js';
import { validateConfig } from '../../core/config/validate.js';
import type { QuotaPolicy } from '../../core/config/schema.js';
import { Exchange, type Identity } from '../../core/pipeline/exchange.js';

/** A snapshot with one route `name` → service `echo` carrying `quota`. */
export function quotaSnapshot(quota: (QuotaPolicy | string)[], named: Record<string, QuotaPolicy> = {}, name = 'limited'): CompiledSnapshot {
  const { config, errors } = validateConfig({
    apiVersion: 'meshgate/v1',
    services: [{ name: 'echo', endpoints: ['127.0.0.1:1'] }],
    routes: [{ name, matches: [{ path: { type: 'PathPrefix', value: `/${name}` } }], backendRefs: [{ name: 'echo' }], quota }],
    policies: Object.keys(named).length ? { quota: named } : undefined,
  });
  if (!config) throw new Error(`fixture config invalid: ${JSON.stringify(errors)}`);
  return compileConfig(config, { version: 1, digest: 'test' });
}

export function quotaRoute(quota: (QuotaPolicy | string)[], named: Record<string, QuotaPolicy> = {}): { route: CompiledRoute; snapshot: CompiledSnapshot } {
  const snapshot = quotaSnapshot(quota, named);
  return { route: snapshot.routes[0], snapshot };
}

export interface FakeRequest {
  clientIp?: string;
  headers?: Record<string, string>;
  claims?: Record<string, unknown>;
}

/** An Exchange over a fake request (no socket), with the fields the quota stages read. */
export function fakeExchange(request: FakeRequest = {}): Exchange {
  const req = { method: 'GET', url: '/', headers: request.headers ?? {}, socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage;
  const x = new Exchange(req, {} as ServerResponse, 'sidecar');
  x.clientIp = request.clientIp ?? '192.0.2.1';
  if (request.claims) {
    const identity: Identity = {
      subject: String(request.claims.sub ?? ''),
      issuer: 'test',
      clientId: undefined,
      subjectHeader: String(request.claims.sub ?? ''),
      clientIdHeader: undefined,
      scopes: new Set(),
      claims: request.claims,
      claimsHeader: '',
    };
    x.identity = identity;
  }
  return x;
}
