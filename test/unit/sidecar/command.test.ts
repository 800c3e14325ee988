// meshgate sidecar's --auth-stale-after: a duration in milliseconds (parsed as every duration flag is:
// test/unit/core/config/cli-options.test.ts), 10 s by default, from MESHGATE_AUTH_STALE_AFTER when the flag is not given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_AUTH_STALE_AFTER_MS, authStaleAfterOption } from '../../../sidecar/command.js';
import { parseTimerDuration } from '../../../core/config/cli-options.js';

test('--auth-stale-after: a duration in milliseconds; 10 s by default; MESHGATE_AUTH_STALE_AFTER', () => {
  const option = authStaleAfterOption();
  assert.equal(option.parseArg, parseTimerDuration);
  assert.equal(option.defaultValue, DEFAULT_AUTH_STALE_AFTER_MS);
  assert.equal(DEFAULT_AUTH_STALE_AFTER_MS, 10_000);
  assert.equal(option.envVar, 'MESHGATE_AUTH_STALE_AFTER');
});
