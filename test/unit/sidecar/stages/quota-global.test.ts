// Unit tests for the quota-global stage: leased admission with headers, 429, 503 when closed, several policies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quotaGlobal } from '../../../../sidecar/stages/quota-global.js';
import { quotaLocal } from '../../../../sidecar/stages/quota-local.js';
import { createQuotaRuntime } from '../../../../core/quota/quota-runtime.js';
import { MemoryQuotaStore } from '../../../../core/quota/memory-quota-store.js';
import { AbsentQuotaBackend, StoreQuotaBackend, type QuotaBackend } from '../../../../core/quota/quota-client.js';
import { MeshError } from '../../../../core/errors.js';
import type { QuotaPolicy } from '../../../../core/config/schema.js';
import type { Verdict } from '../../../../core/pipeline/stage.js';
import { fakeExchange, quotaRoute, type FakeRequest } from '../../../support/quota-fixtures.js';

function build(quota: QuotaPolicy[], backend: QuotaBackend = new StoreQuotaBackend(new MemoryQuotaStore({ now: () => 1_000_000 }))) {
  const runtime = createQuotaRuntime({ service: 'echo', backend, now: () => 0 });
  const { route, snapshot } = quotaRoute(quota);
  const deps = { quota: runtime };
  return { global: quotaGlobal.build({ route, snapshot, deps })!, local: quotaLocal.build({ route, snapshot, deps }), runtime };
}

async function run(stage: ReturnType<typeof build>['global'], request: FakeRequest = {}) {
  const x = fakeExchange(request);
  const verdict: Verdict = await stage.request!(x);
  return { x, verdict };
}

test('a route without global policies gets no stage', () => {
  const runtime = createQuotaRuntime({ service: 'echo' });
  const local = quotaRoute([{ limit: 5, window: 'second' }]);
  assert.equal(quotaGlobal.build({ ...local, deps: { quota: runtime } }), undefined);
});

test('5 per 10 s per client: five admitted with headers, then 429 with Retry-After', async () => {
  const { global } = build([{ limit: 5, window: '10s', scope: 'global', key: ['client-ip'] }]);
  for (let i = 0; i < 5; i++) {
    const { x, verdict } = await run(global);
    assert.equal(verdict, undefined);
    assert.equal(x.responseHeaders['ratelimit-limit'], '5');
    assert.equal(x.responseHeaders['ratelimit-remaining'], String(4 - i));
    assert.equal(x.responseHeaders['ratelimit-reset'], '10');
    assert.equal(x.responseHeaders['ratelimit-policy'], '"limited.0";q=5;w=10');
  }
  const { x, verdict } = await run(global);
  assert.ok(verdict instanceof MeshError);
  assert.equal(verdict.status, 429);
  assert.equal(verdict.headers?.['retry-after'], '10');
  assert.equal(x.responseHeaders['ratelimit'], '"limited.0";r=0;t=10');
  // Another client has its own quota.
  assert.equal((await run(global, { clientIp: '198.51.100.7' })).verdict, undefined);
});

test('the request path is synchronous while the lease has tokens', async () => {
  const { global } = build([{ limit: 1000, window: 'minute', scope: 'global' }]);
  await run(global);
  await new Promise((resolve) => setImmediate(resolve));
  const x = fakeExchange();
  const verdict = global.request!(x);
  assert.ok(!(verdict instanceof Promise));
  assert.equal(verdict, undefined);
});

test('failureMode closed answers 503 quota_unavailable when quota-svc is absent; open admits', async () => {
  const closed = build([{ limit: 5, window: 'second', scope: 'global', failureMode: 'closed' }], new AbsentQuotaBackend());
  const refused = await run(closed.global);
  assert.ok(refused.verdict instanceof MeshError);
  assert.equal(refused.verdict.code, 'quota_unavailable');
  assert.equal(refused.verdict.status, 503);
  assert.equal(refused.verdict.headers?.['retry-after'], '1');
  const open = build([{ limit: 5, window: 'second', scope: 'global', failureMode: 'open' }], new AbsentQuotaBackend());
  const admitted = await run(open.global);
  assert.equal(admitted.verdict, undefined);
  assert.equal(admitted.x.responseHeaders['ratelimit-remaining'], '4');
});

test('several global policies: the strictest refuses and the others get their token back', async () => {
  const { global } = build([
    { limit: 3, window: 'minute', scope: 'global', key: ['route'] },
    { limit: 1, window: 'minute', scope: 'global', key: ['claim:sub'] },
  ]);
  const a = await run(global, { claims: { sub: 'alice' } });
  assert.equal(a.verdict, undefined);
  assert.equal(a.x.responseHeaders['ratelimit-limit'], '1', 'headers from the policy with the fewest left');
  const again = await run(global, { claims: { sub: 'alice' } });
  assert.ok(again.verdict instanceof MeshError);
  // The route-wide policy was refunded for alice's refusal: bob and carol still fit in its 3.
  assert.equal((await run(global, { claims: { sub: 'bob' } })).verdict, undefined);
  assert.equal((await run(global, { claims: { sub: 'carol' } })).verdict, undefined);
  const dave = await run(global, { claims: { sub: 'dave' } });
  assert.ok(dave.verdict instanceof MeshError);
  assert.match(dave.x.responseHeaders['ratelimit'] as string, /^"limited\.0";r=0;/);
});

test('local and global on one route: the headers are those of the policy with fewer left', async () => {
  const { global, local } = build([
    { limit: 100, window: 'minute', scope: 'global' },
    { limit: 2, window: 'minute', scope: 'local' },
  ]);
  const x = fakeExchange();
  assert.equal(local!.request!(x), undefined);
  assert.equal(await global.request!(x), undefined);
  assert.equal(x.responseHeaders['ratelimit-limit'], '2');
  assert.equal(x.responseHeaders['ratelimit-remaining'], '1');
  assert.equal(x.responseHeaders['ratelimit-policy'], '"limited.0";q=100;w=60, "limited.1";q=2;w=60');
});

/** A request through both quota stages, as the inbound chain runs them: local first, then global. */
async function through(stages: ReturnType<typeof build>, request: FakeRequest = {}) {
  const x = fakeExchange(request);
  const verdict: Verdict = stages.local?.request!(x) ?? (await stages.global.request!(x));
  return { x, verdict };
}

test('a request a global policy refuses gets its local tokens back (README: a refused request spends no token of the other policies)', async () => {
  // Before: quota-local spent its token at once and kept it when quota-global refused, so two global refusals
  // emptied a local 3/min bucket after a single admitted request.
  const stages = build([
    { limit: 3, window: 'minute', key: ['header:x-k'] },
    { limit: 1, window: 'minute', scope: 'global', key: ['header:x-k'] },
  ]);
  const user1 = { headers: { 'x-k': 'user1' } };
  assert.equal((await through(stages, user1)).verdict, undefined);
  for (let i = 0; i < 2; i++) {
    const refused = await through(stages, user1);
    assert.ok(refused.verdict instanceof MeshError);
    assert.equal(refused.verdict.status, 429);
    assert.match(refused.x.responseHeaders['ratelimit'] as string, /^"limited\.1";r=0;/, 'the global policy refused');
  }
  // The local bucket alone: two of its three tokens are left.
  const left = fakeExchange(user1);
  assert.equal(stages.local!.request!(left), undefined);
  assert.equal(left.responseHeaders['ratelimit-remaining'], '1');
  assert.equal(stages.local!.request!(fakeExchange(user1)), undefined);
  assert.ok(stages.local!.request!(fakeExchange(user1)) instanceof MeshError);
});

test('a 503 of a closed global policy and a refusal among several global policies give the local tokens back too', async () => {
  const closed = build(
    [
      { limit: 1, window: 'minute' },
      { limit: 5, window: 'minute', scope: 'global', failureMode: 'closed' },
    ],
    new AbsentQuotaBackend(),
  );
  for (let i = 0; i < 3; i++) assert.equal(((await through(closed)).verdict as MeshError).code, 'quota_unavailable');
  assert.equal(closed.local!.request!(fakeExchange()), undefined, 'the local token of each 503 came back');

  const several = build([
    { limit: 1, window: 'minute', key: ['claim:sub'] },
    { limit: 100, window: 'minute', scope: 'global', key: ['route'] },
    { limit: 1, window: 'minute', scope: 'global', key: ['route'] },
  ]);
  assert.equal((await through(several, { claims: { sub: 'alice' } })).verdict, undefined);
  assert.ok((await through(several, { claims: { sub: 'bob' } })).verdict instanceof MeshError);
  assert.equal(several.local!.request!(fakeExchange({ claims: { sub: 'bob' } })), undefined, "bob's local token came back");
});

test('several global policies on their fallback (quota-svc unreachable, open): a refusal gives back the fallback tokens taken', async () => {
  const { global } = build(
    [
      { limit: 3, window: 'minute', scope: 'global', key: ['route'] },
      { limit: 1, window: 'minute', scope: 'global', key: ['claim:sub'] },
    ],
    new AbsentQuotaBackend(),
  );
  const a = await run(global, { claims: { sub: 'alice' } });
  assert.equal(a.verdict, undefined);
  assert.ok((await run(global, { claims: { sub: 'alice' } })).verdict instanceof MeshError);
  // Before: alice's refusal kept the route-wide fallback token, so carol was refused.
  assert.equal((await run(global, { claims: { sub: 'bob' } })).verdict, undefined);
  assert.equal((await run(global, { claims: { sub: 'carol' } })).verdict, undefined);
  assert.ok((await run(global, { claims: { sub: 'dave' } })).verdict instanceof MeshError);
});
