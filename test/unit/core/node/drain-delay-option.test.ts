// --drain-delay: a duration in milliseconds (parsed as every duration flag is: test/unit/core/config/cli-options.test.ts),
// 1 s by default, from MESHGATE_DRAIN_DELAY when the flag is not given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_DRAIN_DELAY_MS, drainDelayOption } from '../../../../core/node/drain-delay-option.js';
import { parseTimerDuration } from '../../../../core/config/cli-options.js';

test('a duration in milliseconds; the default is 1 s; MESHGATE_DRAIN_DELAY', () => {
  const option = drainDelayOption();
  assert.equal(option.parseArg, parseTimerDuration);
  assert.equal(option.defaultValue, DEFAULT_DRAIN_DELAY_MS);
  assert.equal(DEFAULT_DRAIN_DELAY_MS, 1_000);
  assert.equal(option.envVar, 'MESHGATE_DRAIN_DELAY');
});
