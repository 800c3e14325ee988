// The test-support servers: real etcd and redis-server start on free ports, answer, and survive stop/start with their data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startEtcd } from '../support/start-etcd.js';
import { startRedis } from '../support/start-redis.js';
import { freePort } from '../support/free-port.js';

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
