// Unit tests for the header-transform stage: identity headers for the app (subject, claims, client id) set from the
// verified identity only, the route's RequestHeaderModifier, and URLRewrite.
import { test } from 'node:test';
import { validateHeaderValue } from 'node:http';
import assert from 'node:assert/strict';
import { headerTransform } from '../../../../sidecar/stages/header-transform.js';
import type { Identity } from '../../../../core/pipeline/exchange.js';
import { identityHeaderValue } from '../../../../core/http/strip-identity-headers.js';
import type { RouteConfig } from '../../../../core/config/schema.js';
import { layerExchange, layerSnapshot } from '../../../support/layer-exchange.js';

function identity(clientId: string | undefined, subject = 'alice'): Identity {
  const claims = { sub: subject, scope: 'echo:read', ...(clientId && { client_id: clientId }) };
  return {
    subject,
    issuer: 'https://issuer.test',
    clientId,
    subjectHeader: identityHeaderValue(subject),
    clientIdHeader: clientId === undefined ? undefined : identityHeaderValue(clientId),
    scopes: new Set(['echo:read']),
    claims,
    claimsHeader: Buffer.from(JSON.stringify(claims)).toString('base64url'),
  };
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

test('a subject or client id a header cannot carry is percent-encoded; decodeURIComponent gives it back', () => {
  // Before: "José 日本" or a CR LF in `sub` went out raw, undici refused the header, and every request with that
  // token was a 502 that counted against the service's breaker at the edge.
  const subject = 'José 日本\r\nx-evil: 1';
  const clientId = 'cli\u0000ent 100%';
  const x = run({}, identity(clientId, subject));
  const sent = { subject: String(x.upstreamHeaders['x-auth-subject']), clientId: String(x.upstreamHeaders['x-auth-client-id']) };
  assert.equal(sent.subject, 'Jos%C3%A9%20%E6%97%A5%E6%9C%AC%0D%0Ax-evil:%201');
  assert.equal(sent.clientId, 'cli%00ent%20100%25');
  for (const value of Object.values(sent)) assert.doesNotThrow(() => validateHeaderValue('x-auth-subject', value));
  assert.deepEqual([decodeURIComponent(sent.subject), decodeURIComponent(sent.clientId)], [subject, clientId]);
});

test('the usual subjects pass unchanged', () => {
  for (const subject of ['alice', 'user@example.com', 'auth0|5f7c8ec7c33c6c004bbafe82', 'spiffe://mesh/ns/default/sa/orders', 'a+b=c,d;e']) {
    assert.equal(identityHeaderValue(subject), subject);
    assert.equal(decodeURIComponent(identityHeaderValue(subject)), subject);
  }
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
