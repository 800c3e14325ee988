// --workers: a positive integer or auto (one per CPU the process may use); anything else names what it wants.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { InvalidArgumentError } from 'commander';
import { parseWorkers } from '../../../../core/node/workers-option.js';

test('a positive integer, or auto', () => {
  assert.equal(parseWorkers('1'), 1);
  assert.equal(parseWorkers('4'), 4);
  assert.equal(parseWorkers('auto'), availableParallelism());
});

test('zero, negatives, fractions and words are refused', () => {
  for (const value of ['0', '-2', '1.5', 'two', '', ' 2', 'AUTO']) {
    assert.throws(() => parseWorkers(value), (err: Error) => err instanceof InvalidArgumentError && /positive integer, or auto/.test(err.message), value);
  }
});
