// Duration flags (--drain-delay, --auth-stale-after): a duration a timer can wait, 0s included, in milliseconds;
// anything else is refused naming what it wants (commander turns it into the usage error, exit 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { parseTimerDuration } from '../../../../core/config/cli-options.js';

test('a duration in milliseconds, 0s included', () => {
  assert.equal(parseTimerDuration('0s'), 0);
  assert.equal(parseTimerDuration('500ms'), 500);
  assert.equal(parseTimerDuration('2500ms'), 2_500);
  assert.equal(parseTimerDuration('5s'), 5_000);
  assert.equal(parseTimerDuration('1m30s'), 90_000);
});

test('not a duration, or longer than a timer holds, is refused', () => {
  for (const value of ['', '5', '10', '-1s', '1.5s', 'soon', 'never', '25d']) {
    assert.throws(() => parseTimerDuration(value), (err: Error) => err instanceof InvalidArgumentError && /duration|timer/.test(err.message), value);
  }
});
