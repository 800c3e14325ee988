// TokenCache: TTL never past exp (checked on our clock on every hit), refused tokens remembered briefly, bounded size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenCache, type VerifiedToken } from '../../../../core/auth/token-cache.js';

function verified(o: Partial<VerifiedToken> = {}): VerifiedToken {
  return {
    ok: true,
    identity: { subject: 's', issuer: 'i', clientId: undefined, subjectHeader: 's', clientIdHeader: undefined, scopes: new Set(), claims: {}, claimsHeader: 'e30' },
    jti: 'j',
    sub: 's',
    exp: undefined,
    iat: undefined,
    kid: 'k',
    alg: 'ES256',
    audiences: [],
    opaqueHash: undefined,
    ...o,
  };
}

test('a cached token is a hit until its exp, then a miss, whatever TTL lru-cache would allow', () => {
  let now = 1_000_000_000;
  const cache = new TokenCache({ now: () => now, maxTtlMs: 600_000 });
  cache.setVerified('h', verified({ exp: now / 1000 + 30 }));
  assert.equal(cache.get('h')?.ok, true);
  now += 29_999;
  assert.equal(cache.get('h')?.ok, true);
  now += 1;
  assert.equal(cache.get('h'), undefined);
  assert.equal(cache.size, 0, 'the expired entry is dropped');
});

test('an already expired token is not cached; a refused token is remembered as refused', () => {
  const now = 1_000_000_000;
  const cache = new TokenCache({ now: () => now });
  cache.setVerified('old', verified({ exp: now / 1000 - 1 }));
  assert.equal(cache.get('old'), undefined);
  cache.setRefused('bad', 'signature verification failed');
  assert.deepEqual(cache.get('bad'), { ok: false, description: 'signature verification failed' });
});

test('the cache is bounded and evicts by predicate', () => {
  const cache = new TokenCache({ max: 100 });
  for (let i = 0; i < 1000; i++) cache.setVerified(`h${i}`, verified({ jti: `j${i % 10}`, sub: `s${i % 3}` }));
  assert.equal(cache.size, 100);
  const evicted = cache.evict((t) => t.jti === 'j3');
  assert.equal(evicted, 10);
  assert.equal(cache.size, 90);
  for (let i = 900; i < 1000; i++) if (i % 10 === 3) assert.equal(cache.get(`h${i}`), undefined);
});

test('the cache is bounded by bytes as well as entries: tokens with large claims hold fewer entries', () => {
  const big = 'x'.repeat(5_000); // the base64url header of ~4 KB of claims
  const cache = new TokenCache({ max: 1_000, maxBytes: 2_000_000 });
  for (let i = 0; i < 1_000; i++) cache.setVerified(`big${i}`, verified({ identity: { ...verified().identity, claimsHeader: big } }));
  // ~11 KB each: about 180 fit in 2 MB, not a thousand.
  assert.ok(cache.size > 150 && cache.size < 200, `held ${cache.size} large tokens`);
  assert.ok(cache.get('big999')?.ok, 'the newest stay');
  assert.equal(cache.get('big0'), undefined, 'the oldest went first');

  const small = new TokenCache({ max: 1_000, maxBytes: 2_000_000 });
  for (let i = 0; i < 2_000; i++) small.setVerified(`s${i}`, verified());
  assert.equal(small.size, 1_000, 'small tokens are bounded by the entry count');
});
