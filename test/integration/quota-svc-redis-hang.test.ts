// quota-svc on a Redis that hangs (SIGSTOP: the connection stays open, nothing answers): /readyz, the backend_up gauge
// and one warn line say so without any traffic, Check and Acquire fail as UNAVAILABLE, and all is back once Redis
// answers again (SIGCONT).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type RedisProcess } from '../support/start-redis.js';
import { spawnMeshgate, type MeshProcess } from '../support/spawn-mesh.js';
import { GrpcQuotaBackend, QuotaCallError } from '../../core/quota/quota-client.js';

const HUNG = 'redis not answering (hung or cut off): global quota answers UNAVAILABLE until it answers again';

let redis: RedisProcess;
let svc: MeshProcess;
let httpPort: number;
let backend: GrpcQuotaBackend;
let stopped = false;

before(async () => {
  redis = await startRedis();
  svc = spawnMeshgate(['quota', '--grpc-port', '0', '--http-port', '0', '--host', '127.0.0.1'], { MESHGATE_REDIS: redis.url });
  const line = await svc.waitForLine((l) => l.msg === 'quota-svc listening');
  httpPort = line.httpPort as number;
  backend = new GrpcQuotaBackend(`127.0.0.1:${line.grpcPort as number}`);
});

after(async () => {
  // Never leave a stopped redis-server behind.
  if (stopped && redis) process.kill(redis.pid, 'SIGCONT');
  backend?.close();
  await svc?.stop();
  await redis?.stop();
});

async function readyz(): Promise<{ status: number; store: string }> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
  return { status: res.status, store: ((await res.json()) as { store: string }).store };
}

async function backendUp(): Promise<string | undefined> {
  const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return /^meshgate_quota_svc_backend_up\{backend="redis"\} (\S+)$/m.exec(metrics)?.[1];
}

/** The first log line with `msg` written after the first `from` lines. */
function lineAfter(from: number, msg: string) {
  return svc.waitForLine((l) => l.msg === msg && svc.lines.indexOf(l) >= from, 20_000);
}

const request = { policy: 'svc.hang', key: 'k', limit: 100, windowMs: 60_000, requested: 1 };

test('a hung Redis is reported down (readyz 503, backend_up 0, one warn line) and up again once it answers', async () => {
  // Before: /readyz stayed 200 "store: up" and backend_up 1 while every Check and Acquire failed after 0.5 s with
  // "Command timed out", and nothing was logged: only connection events were followed, and a hang sends none.
  assert.deepEqual(await readyz(), { status: 200, store: 'up' });
  assert.equal(await backendUp(), '1');
  const from = svc.lines.length;
  process.kill(redis.pid, 'SIGSTOP');
  stopped = true;
  try {
    // No request is needed to notice it: the periodic PING times out.
    await lineAfter(from, HUNG);
    assert.deepEqual(await readyz(), { status: 503, store: 'down' });
    assert.equal(await backendUp(), '0');
    for (let i = 0; i < 3; i++) {
      await assert.rejects(backend.check(3000), (err: unknown) => err instanceof QuotaCallError && err.retryable);
      await assert.rejects(backend.acquire(request, 3000), (err: unknown) => err instanceof QuotaCallError && err.retryable);
    }
  } finally {
    process.kill(redis.pid, 'SIGCONT');
    stopped = false;
  }
  await lineAfter(from, 'redis reachable');
  assert.deepEqual(await readyz(), { status: 200, store: 'up' });
  assert.equal(await backendUp(), '1');
  assert.equal((await backend.acquire(request, 3000)).granted, 1);
  await backend.check(3000);
  assert.equal(svc.lines.slice(from).filter((l) => l.level === 'warn').length, 1, 'one warn line for the outage');
});
