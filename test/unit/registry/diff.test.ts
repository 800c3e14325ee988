// diffConfigs: routes, services, policies and issuers added, changed or removed by name; what apply refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffConfigs, formatDiff, isEmptyDiff, removals } from '../../../registry/diff.js';
import { meshConfig } from '../../support/mesh-config.js';

test('against nothing applied, everything is added', () => {
  const diff = diffConfigs(undefined, meshConfig(['a', 'b'], ['svc']));
  assert.deepEqual(diff.routes, { added: ['a', 'b'], changed: [], removed: [] });
  assert.deepEqual(diff.services.added, ['svc']);
  assert.deepEqual(removals(diff), []);
});

test('a change inside a route, a removed route and service, policies and issuers by name', () => {
  const live = meshConfig(['a', 'b', 'c'], ['svc', 'old']);
  live.policies = { auth: { users: {} }, quota: { slow: { limit: 1, window: '1s' } as never } };
  live.issuers = [{ issuer: 'https://one' }];
  const next = meshConfig(['a', 'c', 'd'], ['svc']);
  next.routes[1].matches = [{ path: { type: 'Exact', value: '/c' } }];
  next.policies = { auth: { users: { scopes: ['x'] } } };
  next.issuers = [{ issuer: 'https://two' }];
  const diff = diffConfigs(live, next);
  assert.deepEqual(diff.routes, { added: ['d'], changed: ['c'], removed: ['b'] });
  assert.deepEqual(diff.services, { added: [], changed: [], removed: ['old'] });
  assert.deepEqual(diff.policies, { added: [], changed: ['auth/users'], removed: ['quota/slow'] });
  assert.deepEqual(diff.issuers, { added: ['https://two'], changed: [], removed: ['https://one'] });
  assert.deepEqual(removals(diff), ['route b', 'service old']);
  assert.deepEqual(formatDiff(diff), [
    '+ route d',
    '~ route c',
    '- route b',
    '- service old',
    '~ policy auth/users',
    '- policy quota/slow',
    '+ issuer https://two',
    '- issuer https://one',
  ]);
});

test('key order does not make a change; identical configs diff empty', () => {
  const live = meshConfig(['a']);
  const reverseKeys = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(reverseKeys) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reverseKeys(x)])) : v;
  const reordered = reverseKeys(live) as typeof live;
  assert.notEqual(JSON.stringify(reordered), JSON.stringify(live));
  assert.equal(isEmptyDiff(diffConfigs(live, reordered)), true);
  assert.equal(isEmptyDiff(diffConfigs(live, meshConfig(['a', 'b']))), false);
});
