// Unit tests for the lease client: synchronous spending, refill ahead, exhaustion, batch sizing, fallback and recovery.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { LeaseClient, type QuotaOutcome } from '../../../../core/quota/lease-client.js';
import { MemoryQuotaStore } from '../../../../core/quota/memory-quota-store.js';
import { QuotaCallError, type QuotaBackend } from '../../../../core/quota/quota-client.js';
import type { AcquireRequest, Grant } from '../../../../core/quota/quota-store.js';
import type { ResolvedQuotaPolicy } from '../../../../core/config/compile.js';

/** A backend over the memory store that records requests and can be switched off. */
class TestBackend implements QuotaBackend {
  readonly target = 'test';
  readonly requests: AcquireRequest[] = [];
  down = false;
  checks = 0;
  constructor(readonly store: MemoryQuotaStore) {}
  async acquire(request: AcquireRequest): Promise<Grant> {
    this.requests.push(request);
    if (this.down) throw new QuotaCallError('connect ECONNREFUSED', true);
    return this.store.acquire(request);
  }
  async check(): Promise<void> {
    this.checks++;
    if (this.down) throw new QuotaCallError('connect ECONNREFUSED', true);
  }
  close(): void {}
}

function policy(limit: number, windowMs: number, failureMode: 'open' | 'closed' = 'open'): ResolvedQuotaPolicy {
  return { id: `p${limit}-${windowMs}-${failureMode}`, limit, window: 'second', windowMs, scope: 'global', failureMode };
}

function setup(options: { liveNodes?: number; probeIntervalMs?: number; start?: number } = {}) {
  const clock = { now: options.start ?? 1_000_000 };
  const store = new MemoryQuotaStore({ now: () => clock.now });
  const backend = new TestBackend(store);
  const client = new LeaseClient({
    backend,
    service: 'echo',
    now: () => clock.now,
    liveNodes: () => options.liveNodes ?? 1,
    probeIntervalMs: options.probeIntervalMs ?? 10,
  });
  return { clock, store, backend, client };
}

/** Take and settle, copying the (possibly reused) outcome. */
async function take(client: LeaseClient, p: ReturnType<LeaseClient['compile']>, key = 'k'): Promise<{ outcome: QuotaOutcome; waited: boolean }> {
  const r = client.take(p, key);
  const waited = r instanceof Promise;
  const outcome = await r;
  return { outcome: { ...outcome }, waited };
}

/** Let pending refills (promise callbacks) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('the first request waits for a lease; the next ones spend it synchronously', async () => {
  const { client, backend } = setup();
  const p = client.compile(policy(100, 1000));
  const first = await take(client, p);
  assert.equal(first.waited, true);
  assert.equal(first.outcome.decision, 'allowed');
  await settle();
  const second = client.take(p, 'k');
  assert.ok(!(second instanceof Promise));
  assert.equal(second.decision, 'allowed');
  assert.ok(backend.requests.length >= 1);
  assert.ok(backend.requests.every((r) => r.policy === p.id && r.key === 'k' && r.limit === 100 && r.windowMs === 1000));
});

test('never admits more than the limit per window; refusals are local and report the window end', async () => {
  const { client, backend, clock } = setup({ start: 2_000_000 + 250 });
  const p = client.compile(policy(20, 1000));
  let admitted = 0;
  for (let i = 0; i < 100; i++) {
    const { outcome } = await take(client, p);
    if (outcome.decision === 'allowed') admitted++;
    await settle();
  }
  assert.equal(admitted, 20);
  const calls = backend.requests.length;
  const refused = client.take(p, 'k');
  assert.ok(!(refused instanceof Promise), 'an exhausted window refuses without a round trip');
  assert.equal(refused.decision, 'limited');
  assert.equal(refused.retryAfterMs, 750);
  assert.equal(backend.requests.length, calls);
  // The next window brings tokens back; the old window's leftovers are gone.
  clock.now += 750;
  const next = await take(client, p);
  assert.equal(next.outcome.decision, 'allowed');
});

test('remaining counts the store remainder and the unspent lease', async () => {
  const { client } = setup();
  const p = client.compile(policy(5, 10_000));
  const seen: number[] = [];
  for (let i = 0; i < 6; i++) {
    const { outcome } = await take(client, p);
    seen.push(outcome.decision === 'allowed' ? outcome.remaining : -1);
    await settle();
  }
  assert.deepEqual(seen, [4, 3, 2, 1, 0, -1]);
});

test('a hot key rarely waits: refills go out ahead of exhaustion', async () => {
  const { client, clock } = setup();
  const p = client.compile(policy(1_000_000, 60_000));
  let waits = 0;
  for (let tick = 0; tick < 500; tick++) {
    for (let i = 0; i < 20; i++) if ((await take(client, p)).waited) waits++;
    clock.now += 10;
    await settle();
  }
  assert.ok(waits / 10_000 < 0.01, `waited ${waits} of 10000`);
  assert.equal(client.stats.waits, waits);
});

test('batches grow with demand and shrink to 1 near exhaustion', async () => {
  const { client, backend, clock } = setup({ liveNodes: 2, start: 3_000_000 });
  const p = client.compile(policy(2000, 60_000));
  for (let tick = 0; tick < 400; tick++) {
    for (let i = 0; i < 10; i++) await take(client, p);
    clock.now += 5;
    await settle();
  }
  const sizes = backend.requests.map((r) => r.requested);
  assert.ok(Math.max(...sizes) >= 50, `batches grew: ${sizes.slice(0, 20)}`);
  // Each batch is at most a quarter of the remainder per node (plus waiting requests).
  const lastGranted = sizes.slice(-3);
  assert.ok(lastGranted.every((s) => s <= 2), `near exhaustion batches are tiny: ${lastGranted}`);
});

test('many requests arriving on an empty lease share the refill', async () => {
  const { client, backend } = setup();
  const p = client.compile(policy(10, 60_000));
  const results = await Promise.all(Array.from({ length: 30 }, () => client.take(p, 'k')).map(async (r) => (await r).decision));
  assert.equal(results.filter((d) => d === 'allowed').length, 10);
  assert.equal(results.filter((d) => d === 'limited').length, 20);
  assert.ok(backend.requests.length <= 6, `${backend.requests.length} lease requests`);
});

test('refund gives a token back to the lease', async () => {
  const { client } = setup();
  const p = client.compile(policy(2, 60_000));
  await take(client, p);
  await settle();
  const second = await take(client, p);
  assert.equal(second.outcome.decision, 'allowed');
  client.refund(p, 'k');
  assert.equal((await take(client, p)).outcome.decision, 'allowed');
  assert.equal((await take(client, p)).outcome.decision, 'limited');
});

test('open: quota-svc down → admitted on limit ÷ live nodes; recovery is automatic', async () => {
  const { client, backend, clock } = setup({ liveNodes: 4 });
  const p = client.compile(policy(40, 60_000, 'open'));
  backend.down = true;
  const degraded = once(client, 'state');
  const first = await take(client, p, 'a');
  assert.deepEqual(await degraded, ['degraded']);
  assert.equal(first.outcome.decision, 'fallback_allowed');
  assert.equal(client.state, 'degraded');
  assert.equal((client.readiness() as { state: string }).state, 'degraded');
  let admitted = 1;
  for (let i = 0; i < 30; i++) {
    const r = client.take(p, 'a');
    assert.ok(!(r instanceof Promise), 'no waiting while degraded');
    if (r.decision === 'fallback_allowed') admitted++;
    else assert.equal(r.decision, 'fallback_limited');
  }
  assert.equal(admitted, 10, 'local estimate = 40 / 4 nodes');
  backend.down = false;
  assert.deepEqual(await once(client, 'state'), ['ok']);
  assert.ok(backend.checks >= 1);
  clock.now += 1;
  const back = await take(client, p, 'b');
  assert.equal(back.outcome.decision, 'allowed');
});

test('closed: quota-svc down → unavailable until it is back', async () => {
  const { client, backend } = setup();
  const p = client.compile(policy(40, 60_000, 'closed'));
  backend.down = true;
  const first = await take(client, p, 'a');
  assert.equal(first.outcome.decision, 'unavailable');
  const r = client.take(p, 'a');
  assert.ok(!(r instanceof Promise));
  assert.equal(r.decision, 'unavailable');
  backend.down = false;
  await once(client, 'state');
  assert.equal((await take(client, p, 'a')).outcome.decision, 'allowed');
});

test('tokens already leased are still spent while degraded', async () => {
  const { client, backend } = setup();
  const p = client.compile(policy(1000, 60_000, 'closed'));
  for (let i = 0; i < 50; i++) {
    await take(client, p);
    await settle();
  }
  backend.down = true;
  // Drain: leased tokens first (allowed), then the failure mode (unavailable) once a refill failed.
  const decisions: string[] = [];
  for (let i = 0; i < 200 && decisions.at(-1) !== 'unavailable'; i++) {
    decisions.push((await take(client, p)).outcome.decision);
    await settle();
  }
  assert.equal(decisions[0], 'allowed');
  assert.equal(decisions.at(-1), 'unavailable');
  await client.close();
});

test('no quota-svc configured: degraded from the start, no probing', async () => {
  const { AbsentQuotaBackend } = await import('../../../../core/quota/quota-client.js');
  const client = new LeaseClient({ backend: new AbsentQuotaBackend(), service: 'echo' });
  assert.equal(client.state, 'degraded');
  const p = client.compile(policy(3, 60_000, 'open'));
  const r = client.take(p, 'k');
  assert.ok(!(r instanceof Promise));
  assert.equal(r.decision, 'fallback_allowed');
  await client.close();
});

test('small limits strand no token on a node: two nodes, uneven traffic, exactly the limit admitted', async () => {
  const clock = { now: 5_000_000 };
  const store = new MemoryQuotaStore({ now: () => clock.now });
  const nodes = [0, 1].map(() => new LeaseClient({ backend: new TestBackend(store), service: 'echo', now: () => clock.now, liveNodes: () => 2 }));
  const policies = nodes.map((n) => n.compile(policy(6, 60_000)));
  const order = [0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
  let admitted = 0;
  for (const i of order) {
    if ((await take(nodes[i], policies[i])).outcome.decision === 'allowed') admitted++;
    await settle();
  }
  assert.equal(admitted, 6);
  for (const n of nodes) await n.close();
});

test('a busy key leases the next window ahead: no wait when windows turn, never more than the limit per window', async () => {
  const { client, clock, backend } = setup({ start: 7_000_000 });
  const p = client.compile(policy(500, 1000));
  const perWindow = new Map<number, number>();
  let waits = 0;
  // 5 windows at 200 requests per second (1 every 5 ms), below the limit.
  for (let step = 0; step < 1000; step++) {
    const { outcome, waited } = await take(client, p);
    if (waited) waits++;
    assert.equal(outcome.decision, 'allowed');
    perWindow.set(outcome.windowStartMs, (perWindow.get(outcome.windowStartMs) ?? 0) + 1);
    clock.now += 5;
    await settle();
  }
  assert.equal(waits, 1, 'only the very first request waited');
  assert.ok(backend.requests.some((r) => r.nextWindow), 'next-window leases were asked for');
  for (const [start, n] of perWindow) {
    assert.equal(start % 1000, 0);
    assert.ok(n <= 500);
  }
  assert.ok(perWindow.size >= 5);
});

test('an exhausted busy key gets the next window ahead too, and its counts stay within the limit', async () => {
  const { client, clock } = setup({ start: 8_000_000 });
  const p = client.compile(policy(40, 1000));
  const perWindow = new Map<number, number>();
  const firstWaited = new Map<number, boolean>();
  for (let step = 0; step < 1000; step++) {
    const { outcome, waited } = await take(client, p);
    if (outcome.decision === 'allowed') {
      perWindow.set(outcome.windowStartMs, (perWindow.get(outcome.windowStartMs) ?? 0) + 1);
      if (!firstWaited.has(outcome.windowStartMs)) firstWaited.set(outcome.windowStartMs, waited);
    }
    clock.now += 5;
    await settle();
  }
  for (const n of perWindow.values()) assert.ok(n <= 40, `${n} > 40`);
  // Every full window admits its 40 (the lease of the next window is there when it starts)...
  assert.deepEqual([...perWindow.values()].slice(1, 4), [40, 40, 40]);
  // ...and its first request did not wait (only the very first window's did).
  assert.deepEqual([...firstWaited.values()], [true, false, false, false, false]);
});

test('a next-window lease answered after the window turned (so for the window after next) is never spent early', async () => {
  const { client, clock, backend } = setup({ start: 9_000_000 });
  const p = client.compile(policy(1000, 1000));
  // Hold next-window answers until the test releases them.
  const held: (() => void)[] = [];
  const acquire = backend.acquire.bind(backend);
  backend.acquire = (request: AcquireRequest) =>
    request.nextWindow ? new Promise<Grant>((resolve) => held.push(() => resolve(acquire(request)))) : acquire(request);
  for (let i = 0; i < 240; i++) {
    await take(client, p);
    clock.now += 4; // up to 9_000_960: requests in the last 100 ms of the window send a prefetch
    await settle();
  }
  assert.ok(held.length >= 1, 'a next-window lease was asked for');
  clock.now = 9_001_050; // the store answers in the next window, so "next" is the one after
  for (const release of held.splice(0)) release();
  await settle();
  const seen = new Set<number>();
  for (let i = 0; i < 100; i++) {
    const { outcome } = await take(client, p);
    if (outcome.decision === 'allowed') seen.add(outcome.windowStartMs);
    clock.now += 5;
    await settle();
    for (const release of held.splice(0)) release();
  }
  // Requests until 9_001_550 spend tokens of the window they are in, never those of 9_002_000.
  assert.deepEqual([...seen], [9_001_000]);
});

/** setup() whose store answers, then the clock moves on by `rttMs` before the grant reaches the client. */
function slowSetup(rttMs: number, start: number) {
  const s = setup({ start });
  const acquire = s.backend.acquire.bind(s.backend);
  s.backend.acquire = async (request: AcquireRequest) => {
    const grant = await acquire(request);
    s.clock.now += rttMs;
    return grant;
  };
  return s;
}

test('a grant whose window ended before it arrived admits the request that waited for it, and no other', async () => {
  // Before: its tokens expired on arrival, every round of the wait ended the same way, and the request was refused
  // as if the window were exhausted: a 1 ms window refused 10 of 10 first requests, 5 ms about a third.
  const short = slowSetup(2, 3_000_000);
  const p = short.client.compile(policy(3, 1));
  for (let i = 0; i < 10; i++) {
    const { outcome, waited } = await take(short.client, p, `key${i}`);
    assert.equal(waited, true);
    assert.equal(outcome.decision, 'allowed', `key${i}`);
    assert.equal(outcome.leased, false, 'nothing to give back to an ended window');
  }
  assert.equal(short.backend.requests.length, 10, 'one round trip each');

  // A 1 s window with half a millisecond left when the lease request goes out: admitted on that window's count.
  const late = slowSetup(1, 4_000_999.5);
  const q = late.client.compile(policy(100, 1000));
  const first = await take(late.client, q);
  assert.equal(first.outcome.decision, 'allowed');
  assert.equal(first.outcome.windowStartMs, 4_000_000);
  assert.equal(late.backend.requests.length, 1);
  const asked = late.backend.requests[0].requested;
  assert.ok(asked > 1, 'the grant had more than the waiting request needed');
  // The rest of that grant is void: the next request leases from the window it is in.
  await settle();
  const second = await take(late.client, q);
  assert.equal(second.waited, true);
  assert.equal(second.outcome.decision, 'allowed');
  assert.equal(second.outcome.windowStartMs, 4_001_000);
});
