// The test-support servers: real etcd and redis-server start on free ports, answer, and survive stop/start with their data;
// and nothing a test file started outlives it, even when the runner stops the file at its timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEtcd } from '../support/start-etcd.js';
import { startRedis } from '../support/start-redis.js';
import { freePort } from '../support/free-port.js';
import { reapOnExit } from '../support/reap.js';
import { ROOT } from '../support/spawn-mesh.js';
import { waitFor } from '../support/wait-for.js';

const HUNG_FILE = fileURLToPath(new URL('../support/hung-test-file.ts', import.meta.url));
const b64 = (s: string) => Buffer.from(s).toString('base64');

async function etcdCall(endpoint: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${endpoint}${path}`, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(res.status, 200);
  return (await res.json()) as Record<string, unknown>;
}

function redisCommand(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(`${command}\r\n`));
    socket.once('data', (chunk) => (socket.destroy(), resolve(chunk.toString())));
    socket.once('error', reject);
  });
}

test('freePort returns a bindable loopback port', async () => {
  const port = await freePort();
  assert.ok(port > 0 && port < 65536);
});

test('startEtcd serves the v3 API and keeps its data across stop/start', async () => {
  const etcd = await startEtcd();
  try {
    assert.match(etcd.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    await etcdCall(etcd.endpoint, '/v3/kv/put', { key: b64('k'), value: b64('v1') });
    const pid = etcd.pid;
    await etcd.stop();
    await assert.rejects(fetch(`${etcd.endpoint}/health`));
    await etcd.start();
    assert.notEqual(etcd.pid, pid);
    const got = (await etcdCall(etcd.endpoint, '/v3/kv/range', { key: b64('k') })) as { kvs?: { value: string }[] };
    assert.equal(Buffer.from(got.kvs![0].value, 'base64').toString(), 'v1');
  } finally {
    await etcd.stop();
  }
});

test('startRedis answers PING and restarts on the same port', async () => {
  const redis = await startRedis();
  try {
    assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`);
    assert.equal(await redisCommand(redis.port, 'PING'), '+PONG\r\n');
    await redis.stop();
    await assert.rejects(redisCommand(redis.port, 'PING'));
    await redis.start();
    assert.equal(await redisCommand(redis.port, 'PING'), '+PONG\r\n');
  } finally {
    await redis.stop();
  }
});

/** Running, as opposed to gone or a zombie nobody reaped (a killed child whose parent has exited). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

test('a test file that runs past its timeout leaves no etcd or meshgate behind, nor the etcd data dir', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshgate-hung-'));
  const pidsFile = join(dir, 'pids.json');
  let pids: { etcd: number; edge: number; etcdData: string } | undefined;
  try {
    // node's test runner SIGTERMs a file past its timeout, which skips 'exit' handlers (test/support/reap.ts).
    // A runner of its own: without the variable that makes node:test inside a test file skip running files.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const runner = reapOnExit(spawn(process.execPath, ['--import', 'tsx', '--test', '--test-timeout=15000', HUNG_FILE], {
      cwd: ROOT,
      env: { ...env, HUNG_TEST_PIDS: pidsFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    }));
    let output = '';
    runner.stdout.on('data', (c) => (output += c));
    runner.stderr.on('data', (c) => (output += c));
    await once(runner, 'exit');
    pids = existsSync(pidsFile) ? JSON.parse(readFileSync(pidsFile, 'utf8')) : undefined;
    assert.match(output, /# cancelled 1/, 'the runner cancelled the hung file at its timeout');
    assert.ok(pids && pids.etcd > 0 && pids.edge > 0, `the hung file started its children before its timeout:\n${output.slice(-2000)}`);
    const { etcd, edge, etcdData } = pids;
    await waitFor(() => !running(etcd) && !running(edge), "the hung file's etcd and edge to be gone", 5_000);
    assert.equal(existsSync(etcdData), false, 'the etcd data dir is removed');
  } finally {
    // Should they have outlived it, they are still ours (started for this test): ended by pid.
    for (const pid of [pids?.etcd, pids?.edge]) if (pid && running(pid)) process.kill(pid, 'SIGKILL');
    if (pids?.etcdData) rmSync(pids.etcdData, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
