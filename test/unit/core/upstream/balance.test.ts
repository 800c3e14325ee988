import { test } from 'node:test';
import assert from 'node:assert/strict';
import { balance, EndpointLoad } from '../../../../core/upstream/balance.js';
import type { Upstream } from '../../../../core/upstream/upstream.js';
import { layerExchange, layerSnapshot, response } from '../../../support/layer-exchange.js';

const ok: Upstream = () => Promise.resolve(response(200));

test('no endpoint → 503 no_endpoint', async () => {
  const layer = balance({ endpoints: { list: () => [] } })(ok);
  await assert.rejects(layer(layerExchange(layerSnapshot())), (e: unknown) => (e as { code: string }).code === 'no_endpoint');
});

test('P2C picks the endpoint with fewer outstanding requests', async () => {
  const held: (() => void)[] = [];
  const seen: string[] = [];
  const next: Upstream = (x) => {
    seen.push(x.upstreamAddress);
    return new Promise((resolve) => held.push(() => resolve(response(200))));
  };
  // random() alternates 0, 0.99: the two choices are always a:1 and b:2.
  let r = 0;
  const layer = balance({ endpoints: { list: () => ['a:1', 'b:2'] }, random: () => (r++ % 2 === 0 ? 0 : 0.99), now: () => 0 })(next);
  const snapshot = layerSnapshot();
  const pending = [layer(layerExchange(snapshot)), layer(layerExchange(snapshot)), layer(layerExchange(snapshot)), layer(layerExchange(snapshot))];
  assert.deepEqual(seen, ['a:1', 'b:2', 'a:1', 'b:2']); // each goes to the less loaded one
  for (const release of held) release();
  await Promise.all(pending);
});

test('P2C prefers the endpoint with the lower latency cost at equal load', () => {
  const fast = new EndpointLoad(0, 1, 1000);
  const slow = new EndpointLoad(0, 1, 1000);
  fast.observe(1, 1000);
  slow.observe(50, 1000);
  assert.ok(fast.score(1000) < slow.score(1000));
  slow.outstanding = 0;
  fast.outstanding = 100;
  assert.ok(fast.score(1000) > slow.score(1000)); // enough queued work outweighs latency
});

test('Peak-EWMA: a slower reading is the cost at once; the cost decays with elapsed time when it is read', () => {
  const load = new EndpointLoad(0, 1, 10_000);
  load.observe(400, 10);
  assert.equal(load.score(10), 400);
  assert.ok(Math.abs(load.score(10_010) - 400 * Math.exp(-1)) < 1e-9); // no reading in between: decayed by the clock
  assert.ok(load.score(70_010) < 1); // one slow reading is forgotten with no new reading
  load.observe(2, 70_010);
  assert.equal(load.score(70_010), 2); // a reading above the decayed cost replaces it
  load.outstanding = 3;
  assert.ok(load.score(10_000_000) > new EndpointLoad(10_000_000, 0, 10_000).score(10_000_000)); // in flight still counts
});

test('an endpoint that was slow once gets traffic again once it is fast (no starvation by a stale average)', async () => {
  let clock = 0;
  const slow = new Set(['a:1']);
  const layer = balance({ endpoints: { list: () => ['a:1', 'b:2'] }, now: () => clock, decayMs: 10_000 })(async (x) => {
    clock += slow.has(x.upstreamAddress) ? 400 : 1;
    return response(200);
  });
  const snapshot = layerSnapshot();
  const servedByA = async (n: number): Promise<number> => {
    let a = 0;
    for (let i = 0; i < n; i++) {
      const x = layerExchange(snapshot);
      await layer(x);
      if (x.upstreamAddress === 'a:1') a++;
      clock += 100; // sequential traffic, ten requests a second
    }
    return a;
  };
  await servedByA(20); // a slow spell: a is tried once and avoided
  slow.clear();
  // b is read all the time, a never: a's cost decays by the clock alone, so a is tried again and, fast now,
  // wins back its share (it used to keep its slow reading and get nothing, however long).
  await servedByA(800); // 80 s of steady traffic, both fast
  assert.ok((await servedByA(100)) >= 40, 'a, fast again, gets about half');
});

test('round robin when the service asks for it', async () => {
  const seen: string[] = [];
  const layer = balance({ endpoints: { list: () => ['a:1', 'b:2', 'c:3'] } })((x) => {
    seen.push(x.upstreamAddress);
    return ok(x);
  });
  const snapshot = layerSnapshot({ loadBalancer: 'round-robin' });
  for (let i = 0; i < 6; i++) await layer(layerExchange(snapshot));
  assert.deepEqual(seen, ['a:1', 'b:2', 'c:3', 'a:1', 'b:2', 'c:3']);
});

test('a retry goes to a different endpoint than the one just tried', async () => {
  const layer = balance({ endpoints: { list: () => ['a:1', 'b:2'] }, random: () => 0 })(ok);
  const snapshot = layerSnapshot();
  for (let i = 0; i < 10; i++) {
    const x = layerExchange(snapshot);
    await layer(x);
    const first = x.upstreamAddress;
    await layer(x); // the retry layer calls again with the same exchange
    assert.notEqual(x.upstreamAddress, first);
    assert.equal(x.attempts, 2);
  }
});

test('filtered endpoints are skipped, unless every one is filtered (panic mode)', async () => {
  const out = new Set(['a:1']);
  const seen = new Set<string>();
  const layer = balance({ endpoints: { list: () => ['a:1', 'b:2'] }, filters: [{ excluded: (a) => out.has(a) }] })((x) => {
    seen.add(x.upstreamAddress);
    return ok(x);
  });
  const snapshot = layerSnapshot();
  for (let i = 0; i < 20; i++) await layer(layerExchange(snapshot));
  assert.deepEqual([...seen], ['b:2']);
  out.add('b:2');
  seen.clear();
  for (let i = 0; i < 20; i++) await layer(layerExchange(snapshot));
  assert.ok(seen.size >= 1);
});

test('static endpoints in the config win over discovery', async () => {
  let used = '';
  const layer = balance({ endpoints: { list: () => ['d:9'] } })((x) => {
    used = x.upstreamAddress;
    return ok(x);
  });
  await layer(layerExchange(layerSnapshot({ endpoints: ['s:1'] })));
  assert.equal(used, 's:1');
});
