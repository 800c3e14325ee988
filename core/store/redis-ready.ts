// Wait for an ioredis client to be ready, bounded: start-up waits so /readyz is honest from the first probe.
import type { Redis } from 'ioredis';

/** Resolves true once the client is ready, false after `timeoutMs` (it keeps reconnecting either way). */
export function redisReady(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => (redis.off('ready', onReady), resolve(false)), timeoutMs);
    const onReady = () => (clearTimeout(timer), resolve(true));
    redis.once('ready', onReady);
  });
}
