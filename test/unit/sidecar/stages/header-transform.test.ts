// Unit tests for the header-transform stage: identity headers for the app (subject, claims, client id) set from the
// verified identity only, the route's RequestHeaderModifier, and URLRewrite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headerTransform } from '../../../../sidecar/stages/header-transform.js';
import type { Identity } from '../../../../core/pipeline/exchange.js';
import type { RouteConfig } from '../../../../core/config/schema.js';
import { layerExchange, layerSnapshot } from '../../../support/layer-exchange.js';

function identity(clientId: string | undefined): Identity {
  const claims = { sub: 'alice', scope: 'echo:read', ...(clientId && { client_id: clientId }) };
  return { subject: 'alice', issuer: 'https://issuer.test', clientId, scopes: new Set(['echo:read']), claims, claimsHeader: Buffer.from(JSON.stringify(claims)).toString('base64url') };
}

/** The stage on an exchange as route-match leaves it: `path` matched by `prefix`, upstream headers as given. */
function run(route: Partial<RouteConfig>, who: Identity | undefined, o: { path?: string; prefix?: string; headers?: Record<string, string> } = {}) {
  const snapshot = layerSnapshot({}, route);
  const stage = headerTransform.build({ route: snapshot.routes[0], snapshot, deps: undefined })!;
  const x = layerExchange(snapshot);
  x.identity = who;
  x.path = o.path ?? '/';
  x.matchedPrefix = o.prefix ?? '/';
  Object.assign(x.upstreamHeaders, o.headers);
  assert.equal(stage.request!(x), undefined);
  return x;
}

test('an authenticated request carries subject, claims and client id to the app', () => {
  const x = run({}, identity('billing-cli'));
  assert.equal(x.upstreamHeaders['x-auth-subject'], 'alice');
  assert.deepEqual(JSON.parse(Buffer.from(String(x.upstreamHeaders['x-auth-claims']), 'base64url').toString()), { sub: 'alice', scope: 'echo:read', client_id: 'billing-cli' });
  assert.equal(x.upstreamHeaders['x-auth-client-id'], 'billing-cli');
});

test('a token without a client id gets no x-auth-client-id; an anonymous request gets no identity headers', () => {
  const noClient = run({}, identity(undefined));
  assert.equal(noClient.upstreamHeaders['x-auth-subject'], 'alice');
  assert.equal('x-auth-client-id' in noClient.upstreamHeaders, false);
  const anonymous = run({}, undefined);
  for (const name of ['x-auth-subject', 'x-auth-claims', 'x-auth-client-id']) assert.equal(name in anonymous.upstreamHeaders, false, name);
});

test('RequestHeaderModifier removes, sets and adds; URLPrefix rewrite replaces the matched prefix', () => {
  const x = run(
    {
      matches: [{ path: { type: 'PathPrefix', value: '/api' } }],
      filters: [
        { type: 'RequestHeaderModifier', requestHeaderModifier: { remove: ['x-drop'], set: [{ name: 'x-set', value: 'v' }], add: [{ name: 'x-add', value: 'a' }] } },
        { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } },
      ],
    } as Partial<RouteConfig>,
    undefined,
    { path: '/api/items', prefix: '/api', headers: { 'x-drop': 'gone', 'x-add': 'first' } },
  );
  assert.equal('x-drop' in x.upstreamHeaders, false);
  assert.equal(x.upstreamHeaders['x-set'], 'v');
  assert.deepEqual(x.upstreamHeaders['x-add'], ['first', 'a']);
  assert.equal(x.upstreamPath, '/v2/items');
});
