// CLI commands whose service is not there, and waits longer than a timer can hold: one line on stderr naming what
// could not be reached (exit 1) or the flag (exit 2), never a stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../support/free-port.js';
import { runMeshgate } from '../support/spawn-mesh.js';

const ADMIN = 'an-admin-credential-5e6f7a8b9c';

/** One line, no stack. */
function oneLine(stderr: string): string {
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
  return stderr.trim();
}

test('status --registry at an address nothing answers is one line and exit 1', async () => {
  for (const registry of ['http://127.0.0.1:1', `http://127.0.0.1:${await freePort()}`]) {
    const r = await runMeshgate(['status', '--registry', registry]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(oneLine(r.stderr), new RegExp(`^meshgate: status: cannot reach the registry at ${registry}: `));
    const waiting = await runMeshgate(['status', '--registry', registry, '--wait', '2', '--timeout', '5']);
    assert.equal(waiting.code, 1, waiting.stderr);
    assert.match(oneLine(waiting.stderr), /cannot reach the registry/);
  }
});

test('token and revoke against an authz-svc nothing answers are one line and exit 1', async () => {
  const authz = `http://127.0.0.1:${await freePort()}`;
  const token = await runMeshgate(['token', '--sub', 'someone', '--authz', authz, '--admin-token', ADMIN]);
  assert.equal(token.code, 1, token.stderr);
  assert.equal(oneLine(token.stderr), `meshgate: cannot reach authz-svc at ${authz}: ECONNREFUSED`);
  const revoke = await runMeshgate(['revoke', '--jti', 'j1', '--authz', authz, '--admin-token', ADMIN]);
  assert.equal(revoke.code, 1, revoke.stderr);
  assert.equal(oneLine(revoke.stderr), `meshgate: cannot reach authz-svc at ${authz}: ECONNREFUSED`);
});

test('status --timeout beyond what a timer can hold is refused naming --timeout, exit 2', async () => {
  const r = await runMeshgate(['status', '--etcd', 'http://127.0.0.1:1', '--wait', '1', '--timeout', '1e10']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--timeout .*"1e10" is more than 2147483 seconds/);
  assert.doesNotMatch(r.stderr, /TimeoutOverflowWarning/);
});

test('token signed locally against an etcd nothing answers is one line and exit 1', async () => {
  // Before: "meshgate: StoreUnavailableError: …" and its stack.
  const etcd = `http://127.0.0.1:${await freePort()}`;
  const r = await runMeshgate(['token', '--sub', 'someone', '--etcd', etcd], {}, 60_000);
  assert.equal(r.code, 1, r.stderr);
  assert.match(oneLine(r.stderr), new RegExp(`^meshgate: etcd at ${etcd} is unreachable`));
});
