// Gateway API durations ("250ms", "1m30s") to milliseconds.
const PART = /([0-9]+)(ms|h|m|s)/g;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** The longest delay a Node timer holds: 2^31 - 1 ms (about 24.8 days); setTimeout fires a longer one at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export function parseDuration(text: string): number {
  if (!/^([0-9]+(ms|h|m|s))+$/.test(text)) throw new Error(`invalid duration "${text}" (use e.g. 250ms, 5s, 1m)`);
  let total = 0;
  for (const [, n, unit] of text.matchAll(PART)) total += Number(n) * UNIT_MS[unit];
  return total;
}

export function durationOr(text: string | undefined, fallbackMs: number): number {
  return text === undefined ? fallbackMs : parseDuration(text);
}
