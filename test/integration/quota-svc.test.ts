// quota-svc as a real process (`meshgate quota`) on a real Redis: atomic leases under concurrent callers, windows on
// Redis' clock, Cluster-safe key layout, argument errors, admin endpoints, Redis outage, and a sidecar client
// riding out a quota-svc restart.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { startRedis, type RedisProcess } from '../support/start-redis.js';
import { freePort } from '../support/free-port.js';
import { spawnMeshgate, runMeshgate, type MeshProcess } from '../support/spawn-mesh.js';
import { waitFor } from '../support/wait-for.js';
import { GrpcQuotaBackend, QuotaCallError } from '../../core/quota/quota-client.js';
import { LeaseClient } from '../../core/quota/lease-client.js';

let redis: RedisProcess;
let svc: MeshProcess;
let grpcPort: number;
let httpPort: number;
let backend: GrpcQuotaBackend;
let inspect: Redis;

async function startSvc(port: number): Promise<MeshProcess> {
  const child = spawnMeshgate(['quota', '--grpc-port', String(port), '--http-port', '0', '--host', '127.0.0.1'], { MESHGATE_REDIS: redis.url });
  const line = await child.waitForLine((l) => l.msg === 'quota-svc listening');
  grpcPort = line.grpcPort as number;
  httpPort = line.httpPort as number;
  return child;
}

before(async () => {
  redis = await startRedis();
  svc = await startSvc(0);
  backend = new GrpcQuotaBackend(`127.0.0.1:${grpcPort}`);
  inspect = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await inspect.connect();
});

after(async () => {
  backend?.close();
  inspect?.disconnect();
  await svc?.stop();
  await redis?.stop();
});

test('concurrent callers never get more than the limit of a window in total', async () => {
  const request = { policy: 'svc.concurrent', key: 'client-1', limit: 100, windowMs: 3_600_000, requested: 7 };
  const clients = Array.from({ length: 4 }, () => new GrpcQuotaBackend(`127.0.0.1:${grpcPort}`));
  try {
    const grants = await Promise.all(Array.from({ length: 40 }, (_, i) => clients[i % 4].acquire(request, 5000)));
    assert.equal(grants.reduce((s, g) => s + g.granted, 0), 100);
    assert.equal(Math.min(...grants.map((g) => g.remaining)), 0);
    assert.ok(grants.some((g) => g.granted > 0 && g.granted < 7), 'the last partial batch is granted, not refused');
  } finally {
    for (const c of clients) c.close();
  }
});

test('windows follow Redis TIME and the counter lives under a Cluster hash tag with an expiry', async () => {
  const windowMs = 3_600_000;
  const [seconds, micros] = await inspect.time();
  const redisNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const grant = await backend.acquire({ policy: 'svc.clock', key: '203.0.113.5', limit: 10, windowMs, requested: 3 }, 5000);
  const [after] = await inspect.time();
  const expectedStart = redisNow - (redisNow % windowMs);
  // Unless the hour turned between the two TIME calls, the window is the one Redis' clock is in.
  if (Number(after) * 1000 - ((Number(after) * 1000) % windowMs) === expectedStart) {
    assert.equal(grant.windowStartMs, expectedStart);
    assert.ok(grant.resetMs <= expectedStart + windowMs - redisNow && grant.resetMs > 0);
  }
  assert.deepEqual({ granted: grant.granted, remaining: grant.remaining }, { granted: 3, remaining: 7 });
  const key = 'meshgate:quota:{svc.clock:203.0.113.5}';
  const slot = (grant.windowStartMs / windowMs) % 2;
  assert.deepEqual(await inspect.hgetall(key), { [`w${slot}`]: String(grant.windowStartMs), [`n${slot}`]: '3' });
  // Kept until the window after this one has ended (it may hold next-window leases).
  assert.equal(await inspect.pexpiretime(key), grant.windowStartMs + 2 * windowMs + 1000);
});

test('next-window leases are counted in the next window, apart from the current one', async () => {
  const windowMs = 3_600_000;
  const request = { policy: 'svc.next', key: 'k', limit: 10, windowMs, requested: 6 };
  const current = await backend.acquire(request, 5000);
  const next = await backend.acquire({ ...request, nextWindow: true }, 5000);
  if (next.windowStartMs !== current.windowStartMs + windowMs) return; // the hour turned in between
  assert.deepEqual([current.granted, next.granted], [6, 6]);
  assert.ok(next.resetMs > windowMs && next.resetMs <= 2 * windowMs);
  assert.equal((await backend.acquire(request, 5000)).granted, 4);
  assert.equal((await backend.acquire({ ...request, nextWindow: true }, 5000)).granted, 4);
});

test('invalid requests are INVALID_ARGUMENT naming the field, and are not retried as outages', async () => {
  await assert.rejects(backend.acquire({ policy: 'svc.bad', key: 'k', limit: 5, windowMs: 1000, requested: 6 }, 5000), (err: unknown) => {
    assert.ok(err instanceof QuotaCallError);
    assert.equal(err.retryable, false);
    assert.match(err.message, /requested/);
    return true;
  });
  await assert.rejects(backend.acquire({ policy: 'bad policy', key: 'k', limit: 5, windowMs: 1000, requested: 1 }, 5000), /policy/);
});

test('admin: /readyz, /config and /metrics', async () => {
  const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { status: 'ready', backend: 'redis', store: 'up' });
  const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  assert.match(metrics, /meshgate_quota_svc_acquires_total\{result="granted"\} [1-9]/);
  assert.match(metrics, /meshgate_quota_svc_acquires_total\{result="invalid"\} [1-9]/);
  assert.match(metrics, /meshgate_quota_svc_backend_up\{backend="redis"\} 1/);
  const config = await (await fetch(`http://127.0.0.1:${httpPort}/config`)).json();
  assert.equal(config.backend, 'redis');
});

test('Redis down: Acquire is UNAVAILABLE at once and /readyz says so; back when Redis is', async () => {
  await redis.stop();
  await assert.rejects(backend.acquire({ policy: 'svc.outage', key: 'k', limit: 5, windowMs: 1000, requested: 1 }, 5000), (err: unknown) => {
    assert.ok(err instanceof QuotaCallError && err.retryable);
    return true;
  });
  await assert.rejects(backend.check(2000));
  const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
  assert.equal(ready.status, 503);
  assert.equal((await ready.json()).store, 'down');
  await redis.start();
  await waitFor(() => backend.check(1000).then(() => true, () => false), 'quota-svc to reach the restarted Redis', 15_000, 100);
  const grant = await backend.acquire({ policy: 'svc.outage', key: 'k', limit: 5, windowMs: 60_000, requested: 2 }, 5000);
  assert.equal(grant.granted, 2);
  assert.equal((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status, 200);
});

test('quota-svc killed: a sidecar client falls back, then recovers when quota-svc is back on its port', async () => {
  const port = await freePort();
  const own = await startSvc(port);
  // A generous deadline: this checks failure and recovery, not latency, and CI machines can be slow.
  const client = new LeaseClient({ backend: new GrpcQuotaBackend(`127.0.0.1:${port}`), service: 'svc', probeIntervalMs: 100, rpcTimeoutMs: 2000 });
  const policy = client.compile({ id: 'svc.restart', limit: 10, window: 'minute', windowMs: 60_000, scope: 'global', failureMode: 'closed' });
  try {
    assert.equal((await client.take(policy, 'a')).decision, 'allowed');
    // Listen first: a refill sent ahead for 'a' may be what notices the kill.
    const degraded = once(client, 'state');
    await own.stop('SIGKILL');
    assert.equal((await client.take(policy, 'b')).decision, 'unavailable');
    assert.deepEqual(await degraded, ['degraded']);
    const recovered = once(client, 'state');
    const again = await startSvc(port);
    try {
      assert.deepEqual(await recovered, ['ok']);
      assert.equal((await client.take(policy, 'c')).decision, 'allowed');
    } finally {
      await again.stop();
    }
  } finally {
    await client.close();
  }
});

test('bad flags exit 2 naming the flag, with nothing started', async () => {
  const badRedis = await runMeshgate(['quota', '--redis', 'localhost:6379', '--grpc-port', '0', '--http-port', '0']);
  assert.equal(badRedis.code, 2);
  assert.match(badRedis.stderr, /--redis/);
  const badPort = await runMeshgate(['quota', '--grpc-port', 'seventy']);
  assert.equal(badPort.code, 2);
  assert.match(badPort.stderr, /seventy/);
});
