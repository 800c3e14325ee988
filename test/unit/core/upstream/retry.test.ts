import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { MeshError } from '../../../../core/errors.js';
import { retry } from '../../../../core/upstream/retry.js';
import { RetryBudgets } from '../../../../core/upstream/retry-budget.js';
import { PoolSet, bufferedBodies, poolUpstream, streamedBodies } from '../../../../core/upstream/pool.js';
import { H2Sessions } from '../../../../core/upstream/h2-sessions.js';
import { h2Upstream } from '../../../../core/upstream/h2-upstream.js';
import { UpstreamFailure, type Upstream, type UpstreamResponse } from '../../../../core/upstream/upstream.js';
import { freePort } from '../../../support/free-port.js';
import type { Exchange } from '../../../../core/pipeline/exchange.js';
import { layerExchange, layerSnapshot, response } from '../../../support/layer-exchange.js';

const refused = () => new UpstreamFailure('upstream_failed', undefined, 'connect', 'a:1');
const reset = () => new UpstreamFailure('upstream_failed', undefined, 'reset', 'a:1');

function harness(outcomes: ((x: Exchange) => Promise<ReturnType<typeof response>>)[]) {
  const waits: number[] = [];
  const tries: Exchange[] = [];
  const next: Upstream = (x) => {
    tries.push(x);
    x.attempts++;
    return outcomes[Math.min(tries.length - 1, outcomes.length - 1)](x);
  };
  const budgets = new RetryBudgets('test', () => 0);
  budgets.for('svc', undefined); // default budget; tests that need another pass it via the snapshot
  const layer = retry({ budgets, random: () => 1, wait: async (ms) => void waits.push(ms) })(next);
  return { layer, tries, waits };
}

const policy = { retry: { attempts: 3, retryOn: ['connect-failure', 'reset', 'gateway-error'] as ('connect-failure' | 'reset' | 'gateway-error')[] } };

test('a GET is retried after a refused connection and a 503, and the third try answers', async () => {
  const h = harness([() => Promise.reject(refused()), () => Promise.resolve(response(503)), () => Promise.resolve(response(200))]);
  const res = await h.layer(layerExchange(layerSnapshot({}, policy), { budgetMs: 10_000 }));
  assert.equal(res.status, 200);
  assert.equal(h.tries.length, 3);
  assert.deepEqual(h.waits, [25, 50]); // full jitter at its top (random = 1): base × 2^(n-1)
});

test('a POST that was sent (reset) is not retried', async () => {
  const h = harness([() => Promise.reject(reset()), () => Promise.resolve(response(200))]);
  await assert.rejects(h.layer(layerExchange(layerSnapshot({}, policy), { method: 'POST', body: '{"a":1}', budgetMs: 10_000 })), (e: unknown) => e instanceof UpstreamFailure && e.kind === 'reset');
  assert.equal(h.tries.length, 1);
});

test('a POST answered 503 is not retried (the request arrived)', async () => {
  const h = harness([() => Promise.resolve(response(503)), () => Promise.resolve(response(200))]);
  const res = await h.layer(layerExchange(layerSnapshot({}, policy), { method: 'POST', body: 'x', budgetMs: 10_000 }));
  assert.equal(res.status, 503);
  assert.equal(h.tries.length, 1);
});

test('a POST whose connection was refused is retried with its buffered body', async () => {
  const h = harness([() => Promise.reject(refused()), () => Promise.resolve(response(201))]);
  const x = layerExchange(layerSnapshot({}, policy), { method: 'POST', body: '{"order":7}', budgetMs: 10_000 });
  const res = await h.layer(x);
  assert.equal(res.status, 201);
  assert.equal(h.tries.length, 2);
  assert.equal(bufferedBodies.get(x)?.toString(), '{"order":7}');
});

/** Read the whole request body, as an upstream sends it. */
async function drain(x: Exchange): Promise<string> {
  let text = '';
  for await (const chunk of x.req) text += chunk;
  return text;
}

const chunked = { method: 'POST', body: 'abc', headers: { 'transfer-encoding': 'chunked' }, budgetMs: 10_000 };

test('a streamed body (chunked, a gRPC call) is sent again whole after a refused connection that read none of it', async () => {
  // Before, a streamed body was never replayed: every gRPC call to a refused endpoint failed UNAVAILABLE.
  let sent = '';
  const h = harness([() => Promise.reject(refused()), () => Promise.reject(refused()), async (x) => ((sent = await drain(x)), response(200))]);
  const x = layerExchange(layerSnapshot({}, policy), chunked);
  assert.equal((await h.layer(x)).status, 200);
  assert.equal(h.tries.length, 3);
  assert.equal(sent, 'abc');
  assert.equal(bufferedBodies.get(x), undefined, 'never read into memory');
});

test('a streamed body that started flowing is never replayed, even after a refused stream', async () => {
  const h = harness([async (x) => (x.req.read(), Promise.reject(refused())), () => Promise.resolve(response(200))]);
  await assert.rejects(h.layer(layerExchange(layerSnapshot({}, policy), chunked)), (e: unknown) => e instanceof UpstreamFailure && e.kind === 'connect');
  assert.equal(h.tries.length, 1);
});

test('a streamed body is not replayed after a try that reached the upstream (reset, 503), even for a PUT', async () => {
  const put = { ...chunked, method: 'PUT' };
  const h1 = harness([() => Promise.reject(reset()), () => Promise.resolve(response(200))]);
  await assert.rejects(h1.layer(layerExchange(layerSnapshot({}, policy), put)), (e: unknown) => e instanceof UpstreamFailure && e.kind === 'reset');
  assert.equal(h1.tries.length, 1);
  const h2 = harness([() => Promise.resolve(response(503)), () => Promise.resolve(response(200))]);
  assert.equal((await h2.layer(layerExchange(layerSnapshot({}, policy), put))).status, 503);
  assert.equal(h2.tries.length, 1);
});

test('a body above the buffer limit is not read into memory; it is sent again only while no try read it', async () => {
  const big = 'x'.repeat(70 * 1024);
  let sent = '';
  const h1 = harness([() => Promise.reject(refused()), async (x) => ((sent = await drain(x)), response(200))]);
  const x = layerExchange(layerSnapshot({}, policy), { method: 'PUT', body: big, budgetMs: 10_000 });
  assert.equal((await h1.layer(x)).status, 200);
  assert.equal(bufferedBodies.get(x), undefined);
  assert.equal(sent, big);
  const h2 = harness([async (x) => (x.req.read(), Promise.reject(refused())), () => Promise.resolve(response(200))]);
  await assert.rejects(h2.layer(layerExchange(layerSnapshot({}, policy), { method: 'PUT', body: big, budgetMs: 10_000 })));
  assert.equal(h2.tries.length, 1);
});

test('without a policy only a refused connection (or a reset GET) is retried, once', async () => {
  const h1 = harness([() => Promise.reject(refused()), () => Promise.reject(refused()), () => Promise.resolve(response(200))]);
  await assert.rejects(h1.layer(layerExchange(layerSnapshot(), { budgetMs: 10_000 })));
  assert.equal(h1.tries.length, 2);
  const h2 = harness([() => Promise.resolve(response(503)), () => Promise.resolve(response(200))]);
  assert.equal((await h2.layer(layerExchange(layerSnapshot(), { budgetMs: 10_000 }))).status, 503);
  assert.equal(h2.tries.length, 1);
  const h3 = harness([() => Promise.reject(reset()), () => Promise.resolve(response(200))]);
  assert.equal((await h3.layer(layerExchange(layerSnapshot(), { budgetMs: 10_000 }))).status, 200);
  const h4 = harness([() => Promise.reject(reset()), () => Promise.resolve(response(200))]);
  await assert.rejects(h4.layer(layerExchange(layerSnapshot(), { method: 'POST', budgetMs: 10_000 })));
  assert.equal(h4.tries.length, 1);
});

test('a backoff that would outlive the deadline ends the retries', async () => {
  const h = harness([() => Promise.resolve(response(503)), () => Promise.resolve(response(200))]);
  const res = await h.layer(layerExchange(layerSnapshot({}, { retry: { attempts: 3, backoff: '5s', maxBackoff: '5s' } }), { budgetMs: 1_000 }));
  assert.equal(res.status, 503);
  assert.equal(h.tries.length, 1);
});

test('the retry budget caps retries across requests', async () => {
  const snapshot = layerSnapshot({ retryBudget: { percent: 10, minRetriesPerSecond: 0 } }, policy);
  const h = harness([() => Promise.resolve(response(503))]);
  for (let i = 0; i < 50; i++) await h.layer(layerExchange(snapshot, { budgetMs: 10_000 }));
  // 50 first tries; retries ≤ 10% of requests seen when each was asked for.
  const retries = h.tries.length - 50;
  assert.ok(retries <= 5 && retries >= 4, `retries ${retries}`);
});

test('errors that are not the try\'s fault (pool full) are not retried', async () => {
  const { MeshError } = await import('../../../../core/errors.js');
  const h = harness([() => Promise.reject(new MeshError('overloaded')), () => Promise.resolve(response(200))]);
  await assert.rejects(h.layer(layerExchange(layerSnapshot({}, policy), { budgetMs: 10_000 })), (e: unknown) => (e as { code: string }).code === 'overloaded');
  assert.equal(h.tries.length, 1);
});

test('a client that stops sending its body is answered at the deadline, not held until the server times it out', async () => {
  // Before: the retry layer read the body to buffer it with no bound but node's 60 s request timeout; the upstream's
  // timer only starts once the body is read.
  const h = harness([() => Promise.resolve(response(201))]);
  const x = layerExchange(layerSnapshot({}, policy), { method: 'POST', body: 'x', budgetMs: 50 });
  const stalled = Object.assign(new Readable({ read() {} }), { method: 'POST', url: '/', headers: { 'content-length': '1000' }, socket: { remoteAddress: '127.0.0.1' } });
  stalled.push(Buffer.from('0123456789'));
  Object.defineProperty(x, 'req', { value: stalled });
  await assert.rejects(h.layer(x), (e: unknown) => e instanceof MeshError && e.code === 'deadline_exceeded');
  assert.equal(h.tries.length, 0, 'nothing was sent upstream');
  stalled.destroy();
});

/** The answer's body as text, streamed through a client-like sink. */
function text(r: UpstreamResponse): Promise<string> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) =>
    r.body.pipeTo({ write: (c) => chunks.push(c) > 0, end: () => undefined, once: () => undefined }, (err) => (err ? reject(err) : resolve(Buffer.concat(chunks).toString()))),
  );
}

/** The retry layer over a real upstream whose tries go to `addresses` in turn (the balance layer's part). */
function overAddresses(upstream: Upstream, addresses: string[], before?: (attempt: number) => void): Upstream {
  let attempt = 0;
  const budgets = new RetryBudgets('test', () => 0);
  return retry({ budgets, wait: async () => undefined })((x) => {
    before?.(attempt);
    x.upstreamAddress = addresses[Math.min(attempt++, addresses.length - 1)];
    return upstream(x);
  });
}

test('over HTTP/2, a streamed body refused by one endpoint reaches the next whole', async () => {
  // Before, a streamed body was never replayed: a gRPC call that landed on a dead endpoint failed UNAVAILABLE.
  const server = http2.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => res.end(`got ${body}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dead = `127.0.0.1:${await freePort()}`;
  const sessions = new H2Sessions();
  try {
    const layer = overAddresses(h2Upstream(sessions), [dead, dead, `127.0.0.1:${(server.address() as AddressInfo).port}`]);
    assert.equal(await text(await layer(layerExchange(layerSnapshot({}, policy), chunked))), 'got abc');
  } finally {
    await sessions.close();
    server.close();
  }
});

test('over HTTP/1.1, a streamed body refused by one endpoint reaches the next whole: undici reads it only once connected', async () => {
  // The pool hands undici a pass-through that starts pulling the client's body when undici reads it; piped at once,
  // the body was read before the connection was refused and never sent again.
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => res.end(`got ${body}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dead = `127.0.0.1:${await freePort()}`;
  const pools = new PoolSet();
  try {
    const layer = overAddresses(poolUpstream(pools), [dead, `127.0.0.1:${(server.address() as AddressInfo).port}`]);
    assert.equal(await text(await layer(layerExchange(layerSnapshot({}, policy), chunked))), 'got abc');
  } finally {
    await pools.close();
    server.close();
  }
});

test('over HTTP/2, a stream refused before any of the body was read is sent again; once the body flowed, never', async () => {
  const refuse = new Set(['/refused-first', '/flowed']);
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    stream.on('error', () => undefined); // its own REFUSED_STREAM
    // RFC 9113 §8.7: REFUSED_STREAM says nothing of the stream was processed.
    if (refuse.delete(path)) return stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    let body = '';
    stream.on('data', (c: Buffer) => (body += c));
    stream.on('end', () => (stream.respond({ ':status': 200 }), stream.end(`got ${body}`)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sessions = new H2Sessions();
  try {
    // The client's DATA arrives only after the first try was refused (a gRPC client still serializing its message).
    const late = new PassThrough();
    const x = layerExchange(layerSnapshot({}, policy), { method: 'POST', budgetMs: 10_000 });
    x.upstreamPath = '/refused-first';
    streamedBodies.set(x, late);
    const layer = overAddresses(h2Upstream(sessions), [address], (attempt) => attempt === 1 && late.end('abc'));
    assert.equal(await text(await layer(x)), 'got abc');

    // The body was already flowing into the refused stream: part of it may be gone, so it is not sent again.
    const flowed = new PassThrough();
    flowed.end('abc');
    const y = layerExchange(layerSnapshot({}, policy), { method: 'POST', budgetMs: 10_000 });
    y.upstreamPath = '/flowed';
    streamedBodies.set(y, flowed);
    await assert.rejects(overAddresses(h2Upstream(sessions), [address])(y), (e: unknown) => e instanceof UpstreamFailure && e.kind === 'connect');
  } finally {
    await sessions.close();
    server.close();
  }
});
