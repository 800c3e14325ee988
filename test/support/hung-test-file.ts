// A test file that runs past the runner's timeout with children running: an etcd and a meshgate edge.
// test-support.test.ts runs it under node's test runner and checks that neither outlives it.
// The pids (and etcd's data dir) go to the file named in HUNG_TEST_PIDS once both answer.
import { test } from 'node:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startEtcd } from './start-etcd.js';
import { spawnMeshgate } from './spawn-mesh.js';

// Started at load, outside any test's timeout, so only the hanging test below runs into it.
const etcd = await startEtcd();
const edge = spawnMeshgate(['edge', '--http-port', '0', '--no-https', '--admin-port', '0'], {
  MESHGATE_ETCD: etcd.endpoint,
  MESHGATE_HOST: '127.0.0.1',
  MESHGATE_STATE_DIR: join(dirname(process.env.HUNG_TEST_PIDS!), 'state'),
});
// With no config in etcd the edge serves its admin port and waits: running, and that is all this needs.
await edge.waitForLine((l) => l.msg === 'admin listening', 60_000);
const etcdData = /--data-dir=([^\0]+)/.exec(readFileSync(`/proc/${etcd.pid}/cmdline`, 'utf8'))![1];
writeFileSync(process.env.HUNG_TEST_PIDS!, JSON.stringify({ etcd: etcd.pid, edge: edge.pid, etcdData }));

test('never finishes', () => new Promise(() => setInterval(() => {}, 1_000)));
