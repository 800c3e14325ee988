import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RetryBudget, RetryBudgets } from '../../../../core/upstream/retry-budget.js';

function budget(percent: number, floor: number) {
  const clock = { t: 0 };
  return { clock, b: new RetryBudget({ percent, minRetriesPerSecond: floor, windowMs: 10_000 }, () => clock.t) };
}

test('retries are capped at percent of requests in the window when there is no floor', () => {
  const { b } = budget(20, 0);
  for (let i = 0; i < 100; i++) b.deposit();
  let granted = 0;
  for (let i = 0; i < 100; i++) if (b.withdraw()) granted++;
  assert.equal(granted, 20);
});

test('the floor allows a few retries per second with no traffic', () => {
  const { b } = budget(20, 3);
  let granted = 0;
  for (let i = 0; i < 100; i++) if (b.withdraw()) granted++;
  assert.equal(granted, 30); // 3/s over a 10 s window
});

test('the window slides: old requests and retries stop counting', () => {
  const { clock, b } = budget(50, 0);
  for (let i = 0; i < 10; i++) b.deposit();
  for (let i = 0; i < 5; i++) assert.ok(b.withdraw());
  assert.equal(b.withdraw(), false);
  clock.t = 11_000; // a whole window later: nothing deposited, nothing allowed
  assert.equal(b.withdraw(), false);
  for (let i = 0; i < 2; i++) b.deposit();
  assert.equal(b.withdraw(), true);
  assert.equal(b.withdraw(), false);
});

test('RetryBudgets keeps one budget per service and rebuilds it when its config changes', () => {
  const budgets = new RetryBudgets('test', () => 0);
  const a = budgets.for('a', undefined);
  assert.equal(budgets.for('a', undefined), a);
  assert.notEqual(budgets.for('b', undefined), a);
  const changed = budgets.for('a', { percent: 50 });
  assert.notEqual(changed, a);
  assert.equal(changed.options.percent, 50);
  assert.equal(budgets.for('a', { percent: 50 }), changed);
});
