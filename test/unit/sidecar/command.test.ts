// meshgate sidecar's --auth-stale-after: a duration (0s fails closed at once), at most what a timer holds, 10 s by
// default, from MESHGATE_AUTH_STALE_AFTER when the flag is not given; anything else names what it wants.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { DEFAULT_AUTH_STALE_AFTER_MS, authStaleAfterOption, parseAuthStaleAfter } from '../../../sidecar/command.js';

test('--auth-stale-after: a duration in milliseconds; 10 s by default; MESHGATE_AUTH_STALE_AFTER', () => {
  assert.equal(parseAuthStaleAfter('0s'), 0);
  assert.equal(parseAuthStaleAfter('2500ms'), 2_500);
  assert.equal(parseAuthStaleAfter('1m30s'), 90_000);
  const option = authStaleAfterOption();
  assert.equal(option.defaultValue, DEFAULT_AUTH_STALE_AFTER_MS);
  assert.equal(DEFAULT_AUTH_STALE_AFTER_MS, 10_000);
  assert.equal(option.envVar, 'MESHGATE_AUTH_STALE_AFTER');
});

test('--auth-stale-after: not a duration, or longer than a timer holds, is refused', () => {
  for (const value of ['', '10', '-1s', '1.5s', 'never', '25d']) {
    assert.throws(() => parseAuthStaleAfter(value), (err: Error) => err instanceof InvalidArgumentError && /duration|timer/.test(err.message), value);
  }
});
