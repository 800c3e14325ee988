// The error catalogue and the README's error table stay in sync.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CATALOGUE, MeshError, errorBody, invalidToken } from '../../../core/errors.js';

test('README error table lists exactly the catalogue', () => {
  const readme = readFileSync('README.md', 'utf8');
  const table = readme.split('<!-- error-table:start -->')[1].split('<!-- error-table:end -->')[0];
  const rows = [...table.matchAll(/^\| `([a-z_]+)` \| ([0-9]{3}) \|$/gm)].map(([, code, status]) => [code, Number(status)]);
  const catalogue = Object.entries(ERROR_CATALOGUE).map(([code, { status }]) => [code, status]);
  assert.deepEqual(new Map(rows), new Map(catalogue));
});

test('error bodies are the DESIGN §4 JSON', () => {
  const body = JSON.parse(errorBody(new MeshError('no_route'), 'r1'));
  assert.deepEqual(Object.keys(body.error), ['code', 'message', 'requestId']);
  assert.equal(body.error.requestId, 'r1');
});

test('401s carry an RFC 6750 challenge without quotes injected from the description', () => {
  const err = invalidToken('bad "token"');
  assert.equal(err.status, 401);
  assert.match(err.headers!['www-authenticate'], /^Bearer error="invalid_token", error_description="bad token"$/);
});
