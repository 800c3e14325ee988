// The registry through its real interfaces: the `meshgate` CLI (validate, diff, apply, rollback, status --wait)
// as child processes against a real etcd with live nodes, and the registry service's JSON API.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EtcdStore } from '../../core/store/etcd-store.js';
import { ConfigWatch } from '../../core/config/config-watch.js';
import { SnapshotHolder } from '../../core/config/snapshot.js';
import { readLive } from '../../registry/publish.js';
import { MAX_SNAPSHOT_BYTES, SNAPSHOT_RECORD_ROOM } from '../../core/config/check.js';
import { MAX_CONFIG_FILE_BYTES } from '../../core/config/load.js';
import { registerEndpoint } from '../../core/store/endpoints.js';
import { startRegistry, type RegistryServer } from '../../registry/main.js';
import { startEtcd, type EtcdProcess } from '../support/start-etcd.js';
import { meshConfigYaml } from '../support/mesh-config.js';
import { waitFor } from '../support/wait-for.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PREFIX = '/cli-test/';
let etcd: EtcdProcess;
let dir: string;
let store: EtcdStore;
const cleanup: (() => Promise<void>)[] = [];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function meshgate(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'compose/cli.ts'), ...args],
      { cwd: ROOT, env: { ...process.env, MESHGATE_ETCD: etcd.endpoint, MESHGATE_PREFIX: PREFIX, MESHGATE_LOG_LEVEL: 'error', ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function startNode(id: string): Promise<ConfigWatch> {
  const nodeStore = new EtcdStore({ endpoints: etcd.endpoint, prefix: PREFIX });
  const watch = new ConfigWatch({ store: nodeStore, holder: new SnapshotHolder(), role: 'edge', nodeId: id, nodeTtlSeconds: 2 });
  cleanup.push(async () => {
    await watch.stop();
    await nodeStore.close();
  });
  await watch.start();
  return watch;
}

before(async () => {
  etcd = await startEtcd();
  dir = mkdtempSync(join(tmpdir(), 'meshgate-cli-'));
  store = new EtcdStore({ endpoints: etcd.endpoint, prefix: PREFIX });
});

after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => {});
  await store.close();
  await etcd.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('validate prints every error as file:line: field.path: message and exits 2; a valid file gets one summary line', async () => {
  const bad = file(
    'bad.yaml',
    ['apiVersion: meshgate/v1', 'services:', '  - name: Bad_Name', 'routes:', '  - name: r1', '    matches: [{ path: { type: Nope, value: /x } }]', '    backendRefs: [{ name: svc }]', ''].join('\n'),
  );
  // Independent runs go in parallel: each CLI start costs seconds.
  const [invalid, good] = await Promise.all([
    meshgate(['validate', bad], { MESHGATE_ETCD: '' }),
    meshgate(['validate', file('good.yaml', meshConfigYaml(['a', 'b']))], { MESHGATE_ETCD: '' }),
  ]);
  assert.equal(invalid.code, 2);
  const lines = invalid.stderr.trim().split('\n');
  assert.ok(lines.includes(`${bad}:3: services[0].name: expected string to match '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' (DNS-label style name)`), invalid.stderr);
  assert.ok(lines.some((l) => l.startsWith(`${bad}:6: routes[0].matches[0].path.type: must be one of: `)), invalid.stderr);
  assert.equal(invalid.stdout, '');

  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /^.*good\.yaml: valid — 2 routes, 1 service, 0 auth policies, 0 quota policies, 0 issuers \(sha256:[0-9a-f]{12}…\)\n$/);
});

test('a config too big for etcd, too big a file, non-UTF-8 bytes, 60 errors: a clear line each (at most 50, then a count), exit 2, nothing applied', async () => {
  // Before: apply of a 1 MB config that validated died with etcd's "request is too large" and a stack (exit 1); a
  // 20 MB file took 85 s; non-UTF-8 bytes became U+FFFD; every one of 168,206 errors was printed.
  const routes = Array.from({ length: 9000 }, (_, i) => `r${i}`);
  const big = file('big.yaml', meshConfigYaml(routes));
  const huge = file('huge.yaml', `apiVersion: meshgate/v1\n${'#'.repeat(3 * 1024 * 1024)}\n`);
  const latin1 = join(dir, 'latin1.yaml');
  writeFileSync(latin1, Buffer.concat([Buffer.from('apiVersion: meshgate/v1\n# caf'), Buffer.from([0xe9]), Buffer.from('\nservices: []\nroutes: []\n')]));
  const many = file('many.yaml', `apiVersion: meshgate/v1\nservices:\n${'  - name: Bad_Name\n'.repeat(60)}routes: []\n`);
  const [apply, validateHuge, validateLatin1, validateMany] = await Promise.all([
    meshgate(['apply', big, '--allow-removals'], { MESHGATE_PREFIX: '/cli-too-big/' }),
    meshgate(['validate', huge], { MESHGATE_ETCD: '' }),
    meshgate(['validate', latin1], { MESHGATE_ETCD: '' }),
    meshgate(['validate', many], { MESHGATE_ETCD: '' }),
  ]);
  assert.equal(apply.code, 2, apply.stderr);
  assert.match(apply.stderr, new RegExp(`^${big}:1: \\(root\\): the config is \\d+ bytes as JSON; at most ${MAX_SNAPSHOT_BYTES - SNAPSHOT_RECORD_ROOM} fit in a snapshot \\(etcd refuses a request above 1\\.5 MiB[^\\n]*\\n${big}: 1 error\\(s\\); nothing applied\\n$`));
  const bigStore = new EtcdStore({ endpoints: etcd.endpoint, prefix: '/cli-too-big/' });
  assert.equal(await bigStore.get('config/current'), undefined);
  await bigStore.close();
  assert.equal(validateHuge.code, 2);
  assert.equal(validateHuge.stderr, `${huge}: (root): the file is ${3 * 1024 * 1024 + 25} bytes; a config file may be at most ${MAX_CONFIG_FILE_BYTES} bytes (2 MiB)\n${huge}: 1 error(s); nothing applied\n`);
  assert.equal(validateLatin1.code, 2);
  assert.match(validateLatin1.stderr, new RegExp(`^${latin1}:2: \\(root\\): this line has bytes that are not UTF-8`));
  assert.equal(validateMany.code, 2);
  const lines = validateMany.stderr.trim().split('\n');
  assert.equal(lines.length, 52, validateMany.stderr);
  assert.deepEqual(lines.slice(-2), ['… and 10 more', `${many}: 60 error(s); nothing applied`]);
});

test('apply, diff, removal refusal, stale --expect-version and rollback through the CLI', async () => {
  const v1 = file('v1.yaml', meshConfigYaml(['a', 'b']));
  const applied = await meshgate(['apply', v1, '-m', 'first', '--author', 'ci']);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /\+ route a\n.*\+ route b\n[\s\S]*applied version 1 \(sha256:/);
  const live = (await readLive(store)).record!;
  assert.equal(live.author, 'ci');
  assert.equal(live.message, 'first');

  const v2 = file('v2.yaml', meshConfigYaml(['a', 'c']));
  // None of these three writes anything, so they may run at once.
  const [diff, refused, stale] = await Promise.all([
    meshgate(['diff', v2, '--exit-code']),
    meshgate(['apply', v2]),
    meshgate(['apply', v2, '--allow-removals', '--expect-version', '7']),
  ]);
  assert.equal(diff.code, 1);
  assert.equal(diff.stdout, 'against live version 1:\n  + route c\n  - route b\napply needs --allow-removals (removes route b)\n');

  assert.equal(refused.code, 1);
  assert.equal(refused.stderr.trim(), 'meshgate apply: refusing to remove route b without --allow-removals (add before remove)');
  assert.equal((await readLive(store)).record!.version, 1);

  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /the live snapshot is version 1, not 7/);

  const removed = await meshgate(['apply', v2, '--allow-removals']);
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, /applied version 2/);

  const back = await meshgate(['rollback']);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stdout, /rolled back: version 3 serves the config of version 1/);
  assert.deepEqual((await readLive(store)).record!.config.routes.map((r) => r.name), ['a', 'b']);
});

test('status --wait exits 0 once every live node serves the version, 1 at the timeout naming who is behind', async () => {
  await startNode('edge-1');
  await startNode('edge-2');
  const next = file('v4.yaml', meshConfigYaml(['a', 'b', 'd']));
  const applied = await meshgate(['apply', next]);
  assert.match(applied.stdout, /applied version 4/);

  const waited = await meshgate(['status', '--wait', '4', '--timeout', '20']);
  assert.equal(waited.code, 0, waited.stderr);
  assert.match(waited.stdout, /^edge-1\s+edge\s+-\s+4\s/m);
  assert.match(waited.stdout, /^edge-2\s+edge\s+-\s+4\s/m);
  assert.match(waited.stdout, /version 4 is served by all 2 node\(s\)/);

  const [timedOut, noEtcd] = await Promise.all([meshgate(['status', '--wait', '5', '--timeout', '1']), meshgate(['status'], { MESHGATE_ETCD: '' })]);
  assert.equal(timedOut.code, 1);
  assert.match(timedOut.stderr, /timed out after 1s: 0\/2 node\(s\) serve version 5; behind: edge-1 \(version 4\), edge-2 \(version 4\)/);

  assert.equal(noEtcd.code, 2);
  assert.match(noEtcd.stderr, /--etcd \(or MESHGATE_ETCD\) is required/);
});

test('the registry service serves snapshot, nodes, endpoints and rollout, and guards its admin endpoints', async () => {
  let server: RegistryServer | undefined;
  const adminToken = 'test-admin-token';
  server = await startRegistry({ store, host: '127.0.0.1', port: 0, adminToken });
  cleanup.push(() => server!.close());
  const reg = await registerEndpoint(store, { service: 'svc', id: 'i1', address: '127.0.0.1:15006', ttlSeconds: 2 });
  cleanup.push(() => reg.deregister());
  const get = async (path: string) => {
    const res = await fetch(`${server!.url}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const snapshot = await get('/v1/snapshot');
  assert.equal(snapshot.status, 200);
  assert.equal(snapshot.body.version, (await readLive(store)).record!.version);

  const edge = await startNode('edge-3');
  // The registry learns about nodes through its own watch.
  await waitFor(async () => (await get('/v1/nodes')).body.nodes.some((node: { id: string }) => node.id === 'edge-3'), 'the registry to see edge-3');
  const rollout = await get('/v1/rollout');
  assert.equal(rollout.body.target, snapshot.body.version);
  assert.ok(rollout.body.nodes.some((node: { id: string }) => node.id === 'edge-3'));
  assert.equal(edge.status().version, snapshot.body.version);
  const endpoints = await get('/v1/endpoints');
  assert.deepEqual(endpoints.body.services.svc.map((e: { address: string }) => e.address), ['127.0.0.1:15006']);

  const yaml = meshConfigYaml(['a', 'b', 'd', 'e']);
  const anonymous = await fetch(`${server.url}/v1/apply`, { method: 'POST', body: yaml });
  assert.equal(anonymous.status, 401);
  assert.equal(((await anonymous.json()) as { error: { code: string } }).error.code, 'invalid_token');
  const applied = await fetch(`${server.url}/v1/apply?message=api`, { method: 'POST', body: yaml, headers: { authorization: `Bearer ${adminToken}` } });
  assert.equal(applied.status, 200);
  const result = (await applied.json()) as { version: number; diff: { routes: { added: string[] } } };
  assert.deepEqual(result.diff.routes.added, ['e']);
  const invalid = await fetch(`${server.url}/v1/apply`, { method: 'POST', body: 'apiVersion: nope\n', headers: { authorization: `Bearer ${adminToken}` } });
  assert.equal(invalid.status, 400);
  // The API reads a body as the CLI reads a file: UTF-8 only (bad bytes silently became U+FFFD), errors capped.
  const latin1 = await fetch(`${server.url}/v1/apply`, { method: 'POST', body: Buffer.from(`${yaml}# caf\xe9\n`, 'latin1'), headers: { authorization: `Bearer ${adminToken}` } });
  const latin1Body = (await latin1.json()) as { error: { code: string; errors: string[] } };
  assert.equal(latin1.status, 400);
  assert.equal(latin1Body.error.code, 'invalid_config');
  assert.match(latin1Body.error.errors[0], /not UTF-8/);
  // Malformed parameters are the caller's error, named, and change nothing (they were a 500, a 409 or a 404).
  const admin = { authorization: `Bearer ${adminToken}` };
  for (const [method, path, named] of [
    ['GET', '/v1/endpoints/%E0%A4%A', 'percent-encoding'],
    ['GET', '/v1/rollout?version=abc', 'version'],
    ['POST', '/v1/apply?expectVersion=1.5', 'expectVersion'],
    ['POST', '/v1/rollback?version=-1', 'version'],
  ] as const) {
    const res: Response = await fetch(`${server.url}${path}`, { method, headers: admin, body: method === 'POST' ? yaml : undefined });
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(res.status, 400, `${method} ${path}: ${body.error.message}`);
    assert.equal(body.error.code, 'bad_request');
    assert.match(body.error.message, new RegExp(named));
  }
  assert.equal((await readLive(store)).record!.version, result.version, 'nothing was applied or rolled back');

  const waited = await meshgate(['status', '--registry', server.url, '--wait', String(result.version), '--timeout', '20']);
  assert.equal(waited.code, 0, waited.stderr);
  assert.match(waited.stdout, new RegExp(`version ${result.version} is served by all \\d+ node\\(s\\)`));
});
