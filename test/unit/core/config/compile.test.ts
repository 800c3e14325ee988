// The compiled route table: exact over prefix, longest prefix, segment boundaries, methods, headers, hosts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileConfig } from '../../../../core/config/compile.js';
import { validateConfig } from '../../../../core/config/validate.js';
import { normalizeTarget } from '../../../../core/http/normalize-path.js';

function table(routes: unknown[]) {
  const { config, errors } = validateConfig({ apiVersion: 'meshgate/v1', services: [{ name: 'a' }, { name: 'b' }], routes });
  assert.deepEqual(errors, []);
  return compileConfig(config!, { version: 1, digest: 'd' }).table;
}

const r = (name: string, match: object, extra: object = {}) => ({ name, matches: [match], backendRefs: [{ name: 'a' }], ...extra });

test('longest prefix wins and prefixes respect segment boundaries', () => {
  const t = table([r('root', { path: { type: 'PathPrefix', value: '/' } }), r('api', { path: { type: 'PathPrefix', value: '/api' } }), r('v2', { path: { type: 'PathPrefix', value: '/api/v2' } })]);
  assert.equal(t.match('h', '/api/v2/x', 'GET', {})?.route.name, 'v2');
  assert.equal(t.match('h', '/api/v1', 'GET', {})?.route.name, 'api');
  assert.equal(t.match('h', '/apix', 'GET', {})?.route.name, 'root');
  assert.equal(t.match('h', '/api', 'GET', {})?.template, '/api');
});

test('exact beats prefix; method and header matches narrow', () => {
  const t = table([
    r('prefix', { path: { type: 'PathPrefix', value: '/orders' } }),
    r('exact', { path: { type: 'Exact', value: '/orders' }, method: 'POST' }),
    r('v2', { path: { type: 'PathPrefix', value: '/orders' }, headers: [{ name: 'X-API-Version', value: '2' }] }),
  ]);
  assert.equal(t.match('h', '/orders', 'POST', {})?.route.name, 'exact');
  assert.equal(t.match('h', '/orders', 'GET', {})?.route.name, 'prefix');
  assert.equal(t.match('h', '/orders/1', 'GET', { 'x-api-version': '2' })?.route.name, 'v2');
  assert.equal(t.match('h', '/orders/1', 'GET', { 'x-api-version': '3' })?.route.name, 'prefix');
});

test('hostnames: exact, wildcard, then any', () => {
  const t = table([
    r('any', { path: { type: 'PathPrefix', value: '/' } }),
    r('star', { path: { type: 'PathPrefix', value: '/' } }, { hostnames: ['*.example.com'] }),
    r('api', { path: { type: 'PathPrefix', value: '/' } }, { hostnames: ['api.example.com'] }),
  ]);
  assert.equal(t.match('api.example.com', '/x', 'GET', {})?.route.name, 'api');
  assert.equal(t.match('www.example.com', '/x', 'GET', {})?.route.name, 'star');
  assert.equal(t.match('other.org', '/x', 'GET', {})?.route.name, 'any');
});

test('no match is undefined', () => {
  const t = table([r('only', { path: { type: 'Exact', value: '/x' } })]);
  assert.equal(t.match('h', '/y', 'GET', {}), undefined);
});

test('an empty segment is a segment: "//public/x" is not under "/public", but "/public/" and "/public//x" are', () => {
  const t = table([r('root', { path: { type: 'PathPrefix', value: '/' } }), r('public', { path: { type: 'PathPrefix', value: '/public' } })]);
  // The app receives "//public/x"; read as a URL that is host "public", path "/x", not a path under /public.
  assert.equal(t.match('h', '//public/x', 'GET', {})?.route.name, 'root');
  assert.equal(t.match('h', '//public', 'GET', {})?.route.name, 'root');
  assert.equal(t.match('h', '/public/', 'GET', {})?.route.name, 'public');
  assert.equal(t.match('h', '/public//x', 'GET', {})?.route.name, 'public');
  const only = table([r('public', { path: { type: 'PathPrefix', value: '/public' } })]);
  assert.equal(only.match('h', '//public/x', 'GET', {}), undefined);
  assert.equal(only.match('h', '/', 'GET', {}), undefined);
});

test('a route written with escapes (as the schema asks) matches requests however they case their escapes', () => {
  const t = table([r('cafe', { path: { type: 'PathPrefix', value: '/caf%C3%A9' } })]);
  for (const target of ['/caf%C3%A9/menu', '/caf%c3%a9/menu', '/caf%C3%a9']) {
    const n = normalizeTarget(target);
    assert.ok(!('error' in n), target);
    assert.equal(t.match('h', n.path, 'GET', {})?.route.name, 'cafe', target);
  }
});

test('a zero request or per-try timeout means none (Gateway API), not an instant 504', () => {
  const { config, errors } = validateConfig({
    apiVersion: 'meshgate/v1',
    services: [{ name: 'a' }],
    routes: [
      r('zero', { path: { type: 'PathPrefix', value: '/zero' } }, { timeouts: { request: '0s', backendRequest: '0s' } }),
      r('set', { path: { type: 'PathPrefix', value: '/set' } }, { timeouts: { request: '2s', backendRequest: '500ms' } }),
    ],
  });
  assert.deepEqual(errors, []);
  const [zero, set] = compileConfig(config!, { version: 1, digest: 'd' }).routes;
  assert.deepEqual([zero.timeoutMs, zero.perTryTimeoutMs], [Infinity, Infinity]);
  assert.deepEqual([set.timeoutMs, set.perTryTimeoutMs], [2000, 500]);
});
