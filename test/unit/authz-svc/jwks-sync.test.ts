// JwksSync helpers: how Cache-Control drives the refresh of an external JWKS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxAgeMs } from '../../../authz-svc/jwks-sync.js';

test('Cache-Control max-age parsing for the JWKS sync', () => {
  assert.equal(maxAgeMs(undefined), undefined);
  assert.equal(maxAgeMs('public, max-age=300'), 300_000);
  assert.equal(maxAgeMs('max-age="60", must-revalidate'), 60_000);
  assert.equal(maxAgeMs('s-maxage=10'), undefined);
  assert.equal(maxAgeMs('no-store'), 0);
  assert.equal(maxAgeMs(['public', 'max-age=5']), 5_000);
});
