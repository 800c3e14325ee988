// normalize-path's authority: the host routing matches on, from Host or :authority, lowercased, without the port
// and without the trailing dot of an absolute DNS name; a Host that is no host name, or that differs from
// :authority, is a 400.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath } from '../../../../core/stages/normalize-path.js';
import { MeshError } from '../../../../core/errors.js';
import { layerExchange, layerSnapshot } from '../../../support/layer-exchange.js';

function hostOf(headers: Record<string, string>): string | MeshError {
  const snapshot = layerSnapshot({});
  const stage = normalizePath.build({ route: undefined, snapshot, deps: {} })!;
  const x = layerExchange(snapshot, { headers });
  const verdict = stage.request!(x);
  return verdict instanceof MeshError ? verdict : x.host;
}

test('the routed host: lowercased, port dropped, one trailing dot dropped', () => {
  assert.equal(hostOf({ host: 'API.Example.com:8443' }), 'api.example.com');
  assert.equal(hostOf({ host: 'api.example.com.' }), 'api.example.com');
  assert.equal(hostOf({ host: 'api.example.com.:80' }), 'api.example.com');
  assert.equal(hostOf({ host: '[::1]:80' }), '[::1]');
  assert.equal(hostOf({ ':authority': 'api.example.com.', host: 'api.example.com.' }), 'api.example.com');
});

test('a Host that is no host name, or that names another entity than :authority, is a 400', () => {
  for (const headers of [{ host: 'a b' }, { host: 'a/b' }, { host: 'user@a' }, { ':authority': 'a', host: 'b' }]) {
    const verdict = hostOf(headers);
    assert.ok(verdict instanceof MeshError && verdict.code === 'bad_request', JSON.stringify(headers));
  }
});
