// Waits for a condition no event announces (a process flag, a remote state), polling briefly and bounded in time.
import { setTimeout as delay } from 'node:timers/promises';

export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000, intervalMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(intervalMs);
  }
}
