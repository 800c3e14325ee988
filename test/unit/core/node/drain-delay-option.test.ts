// --drain-delay: a duration (0s closes at once), at most what a timer holds; anything else names what it wants.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { DEFAULT_DRAIN_DELAY_MS, drainDelayOption, parseDrainDelay } from '../../../../core/node/drain-delay-option.js';

test('a duration in milliseconds; the default is 1 s from MESHGATE_DRAIN_DELAY\'s flag', () => {
  assert.equal(parseDrainDelay('0s'), 0);
  assert.equal(parseDrainDelay('500ms'), 500);
  assert.equal(parseDrainDelay('5s'), 5_000);
  const option = drainDelayOption();
  assert.equal(option.defaultValue, DEFAULT_DRAIN_DELAY_MS);
  assert.equal(DEFAULT_DRAIN_DELAY_MS, 1_000);
  assert.equal(option.envVar, 'MESHGATE_DRAIN_DELAY');
});

test('not a duration, or longer than a timer holds, is refused', () => {
  for (const value of ['', '5', '-1s', '1.5s', 'soon', '25d']) {
    assert.throws(() => parseDrainDelay(value), (err: Error) => err instanceof InvalidArgumentError && /duration|timer/.test(err.message), value);
  }
});
