// Unit tests for the quota-local stage: headers, 429 with Retry-After, keys from ip/claim/header/route, strictest policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quotaLocal } from '../../../../sidecar/stages/quota-local.js';
import { createQuotaRuntime } from '../../../../core/quota/quota-runtime.js';
import { MeshError } from '../../../../core/errors.js';
import type { Stage } from '../../../../core/pipeline/stage.js';
import type { QuotaPolicy } from '../../../../core/config/schema.js';
import { fakeExchange, quotaRoute, type FakeRequest } from '../../../support/quota-fixtures.js';
import { registry } from '../../../../core/telemetry/metrics.js';

function build(quota: (QuotaPolicy | string)[], named: Record<string, QuotaPolicy> = {}) {
  const clock = { now: 1_000 };
  const runtime = createQuotaRuntime({ service: 'echo', now: () => clock.now, maxKeys: 1000 });
  const { route, snapshot } = quotaRoute(quota, named);
  const stage = quotaLocal.build({ route, snapshot, deps: { quota: runtime } });
  return { stage: stage!, clock, runtime };
}

function run(stage: Stage, request: FakeRequest = {}) {
  const x = fakeExchange(request);
  const verdict = stage.request!(x);
  assert.ok(!(verdict instanceof Promise), 'the local stage is synchronous');
  return { x, verdict };
}

test('a route without local policies gets no stage', () => {
  const runtime = createQuotaRuntime({ service: 'echo' });
  const none = quotaRoute([]);
  assert.equal(quotaLocal.build({ ...none, deps: { quota: runtime } }), undefined);
  const globalOnly = quotaRoute([{ limit: 5, window: 'second', scope: 'global' }]);
  assert.equal(quotaLocal.build({ ...globalOnly, deps: { quota: runtime } }), undefined);
});

test('admits up to the limit with RateLimit headers, then 429 with Retry-After', () => {
  const { stage } = build([{ limit: 3, window: '9s' }]);
  for (let i = 0; i < 3; i++) {
    const { x, verdict } = run(stage);
    assert.equal(verdict, undefined);
    assert.equal(x.responseHeaders['ratelimit-limit'], '3');
    assert.equal(x.responseHeaders['ratelimit-remaining'], String(2 - i));
    assert.equal(x.responseHeaders['ratelimit-reset'], String(3 * (i + 1)));
    assert.equal(x.responseHeaders['ratelimit'], `"limited.0";r=${2 - i};t=${3 * (i + 1)}`);
    assert.equal(x.responseHeaders['ratelimit-policy'], '"limited.0";q=3;w=9');
  }
  const { x, verdict } = run(stage);
  assert.ok(verdict instanceof MeshError);
  assert.equal(verdict.code, 'rate_limited');
  assert.equal(verdict.status, 429);
  assert.equal(verdict.headers?.['retry-after'], '3');
  assert.equal(verdict.headers?.['ratelimit-remaining'], '0');
  assert.equal(verdict.headers?.['ratelimit-limit'], '3');
  assert.equal(x.responseHeaders['retry-after'], '3');
});

test('tokens come back with time on the injected clock', () => {
  const { stage, clock } = build([{ limit: 2, window: 'second' }]);
  run(stage);
  run(stage);
  assert.ok(run(stage).verdict instanceof MeshError);
  clock.now += 499;
  assert.ok(run(stage).verdict instanceof MeshError);
  clock.now += 1;
  assert.equal(run(stage).verdict, undefined);
});

test('keys by client ip by default', () => {
  const { stage } = build([{ limit: 1, window: 'minute' }]);
  assert.equal(run(stage, { clientIp: '198.51.100.1' }).verdict, undefined);
  assert.ok(run(stage, { clientIp: '198.51.100.1' }).verdict instanceof MeshError);
  assert.equal(run(stage, { clientIp: '198.51.100.2' }).verdict, undefined);
});

test('keys by claim, header and their combination; a missing part shares one bucket', () => {
  const { stage } = build([{ limit: 1, window: 'minute', key: ['claim:tenant', 'header:x-api-key'] }]);
  assert.equal(run(stage, { claims: { tenant: 'a' }, headers: { 'x-api-key': 'k1' } }).verdict, undefined);
  assert.ok(run(stage, { claims: { tenant: 'a' }, headers: { 'x-api-key': 'k1' }, clientIp: '203.0.113.9' }).verdict instanceof MeshError);
  assert.equal(run(stage, { claims: { tenant: 'a' }, headers: { 'x-api-key': 'k2' } }).verdict, undefined);
  assert.equal(run(stage, { claims: { tenant: 'b' }, headers: { 'x-api-key': 'k1' } }).verdict, undefined);
  assert.equal(run(stage, {}).verdict, undefined);
  assert.ok(run(stage, { clientIp: '203.0.113.10' }).verdict instanceof MeshError, 'anonymous requests share a bucket');
});

test('a route-keyed policy is one bucket for every client', () => {
  const { stage } = build([{ limit: 1, window: 'minute', key: ['route'] }]);
  assert.equal(run(stage, { clientIp: '198.51.100.1' }).verdict, undefined);
  assert.ok(run(stage, { clientIp: '198.51.100.2' }).verdict instanceof MeshError);
});

test('very long key values are bounded (hashed) and still distinguish clients', () => {
  const { stage, runtime } = build([{ limit: 1, window: 'minute', key: ['header:x-api-key'] }]);
  const long = 'k'.repeat(5000);
  assert.equal(run(stage, { headers: { 'x-api-key': long } }).verdict, undefined);
  assert.ok(run(stage, { headers: { 'x-api-key': long } }).verdict instanceof MeshError);
  assert.equal(run(stage, { headers: { 'x-api-key': long + 'x' } }).verdict, undefined);
  assert.equal(runtime.buckets.size, 2);
});

test('several policies: the strictest decides and its headers are sent; a refusal spends no token', () => {
  const { stage } = build([
    { limit: 100, window: 'minute' },
    { limit: 2, window: 'minute', key: ['claim:tenant'] },
  ]);
  const first = run(stage, { claims: { tenant: 't' } });
  assert.equal(first.verdict, undefined);
  assert.equal(first.x.responseHeaders['ratelimit-limit'], '2', 'per-tenant policy is the most restrictive');
  assert.equal(first.x.responseHeaders['ratelimit-remaining'], '1');
  assert.equal(first.x.responseHeaders['ratelimit-policy'], '"limited.0";q=100;w=60, "limited.1";q=2;w=60');
  run(stage, { claims: { tenant: 't' } });
  const refused = run(stage, { claims: { tenant: 't' } });
  assert.ok(refused.verdict instanceof MeshError);
  assert.match(refused.x.responseHeaders['ratelimit'] as string, /^"limited\.1";r=0;/);
  // The per-ip policy was not charged for the refusal: 100 - 2 admitted = 98 left.
  const other = run(stage, { claims: { tenant: 'u' } });
  assert.equal(other.verdict, undefined);
  assert.equal(other.x.responseHeaders['ratelimit-limit'], '2');
  const ipOnly = build([{ limit: 100, window: 'minute' }]);
  assert.equal(run(ipOnly.stage).x.responseHeaders['ratelimit-remaining'], '99');
});

test('named policies keep their name and share buckets across routes', () => {
  const { stage } = build(['per-client'], { 'per-client': { limit: 1, window: 'hour' } });
  const { x } = run(stage);
  assert.equal(x.responseHeaders['ratelimit-policy'], '"per-client";q=1;w=3600');
  assert.ok(run(stage).verdict instanceof MeshError);
});

test('decisions are counted by policy and outcome', async () => {
  const { stage } = build([{ limit: 1, window: 'minute' }], {});
  const count = async (outcome: string) => {
    const { values } = await registry.getSingleMetric('meshgate_quota_decisions_total')!.get();
    return values.filter((v) => v.labels.policy === 'limited.0' && v.labels.outcome === outcome && v.labels.scope === 'local').reduce((s, v) => s + v.value, 0);
  };
  const [allowedBefore, limitedBefore] = [await count('allowed'), await count('limited')];
  run(stage, { clientIp: '10.9.9.9' });
  run(stage, { clientIp: '10.9.9.9' });
  assert.equal((await count('allowed')) - allowedBefore, 1);
  assert.equal((await count('limited')) - limitedBefore, 1);
});
