// The global limiter in Redis: one Lua script per lease, atomic, on Redis' clock (TIME), Cluster-safe keys.
//
// Key layout: `meshgate:quota:{<policy>:<key>}` — a hash {w0, n0, w1, n1}: start and tokens granted of the
// current and the next window, expiring one second after the later of the two ends. The whole policy:key sits in the hash tag, so the one key a script
// touches maps to one Cluster slot and different keys spread over the cluster.
import { redisReady } from '../core/store/redis-ready.js';
import { createHash } from 'node:crypto';
import { Redis, type Result } from 'ioredis';
import { logger } from '../core/telemetry/log.js';
import { svcBackendUp } from '../core/quota/quota-metrics.js';
import { QuotaStoreUnavailable, type AcquireRequest, type Grant, type QuotaStore } from '../core/quota/quota-store.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** Lua ACQUIRE_SCRIPT: KEYS[1] counters, ARGV limit, windowMs, requested, next → [granted, remaining, resetMs, windowStart]. */
    meshgateAcquire(key: string, limit: number, windowMs: number, requested: number, nextWindow: '0' | '1'): Result<[number, number, number, number], Context>;
  }
}

/**
 * KEYS[1]: the counters of one policy:key.  ARGV: limit, window (ms), requested, "1" to lease from the next window.
 * Windows are aligned to the epoch on Redis' clock. The hash keeps two windows (fields w0/n0 and w1/n1, slot =
 * window index mod 2): the current one and the next, which busy sidecars lease from shortly before it starts.
 * A slot holding an older window counts as empty.
 */
export const ACQUIRE_SCRIPT = `
if redis.replicate_commands then redis.replicate_commands() end
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local requested = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local current = now - (now % window)
local start = current
if ARGV[4] == '1' then start = current + window end
local slot = tostring((start / window) % 2)
local state = redis.call('HMGET', KEYS[1], 'w' .. slot, 'n' .. slot)
local used = 0
if tonumber(state[1]) == start then used = tonumber(state[2]) or 0 end
local available = limit - used
if available < 0 then available = 0 end
local granted = requested
if granted > available then granted = available end
if granted > 0 or tonumber(state[1]) ~= start then
  redis.call('HSET', KEYS[1], 'w' .. slot, start, 'n' .. slot, used + granted)
  redis.call('PEXPIREAT', KEYS[1], current + 2 * window + 1000)
end
return { granted, available - granted, start + window - now, start }
`;

/** Keys longer than this are hashed, so the Redis key stays short whatever the caller's key parts were. */
const MAX_RAW_KEY_BYTES = 200;

export function counterKey(policy: string, key: string): string {
  const part = Buffer.byteLength(key) <= MAX_RAW_KEY_BYTES ? key : 'sha256:' + createHash('sha256').update(key).digest('base64url');
  return `meshgate:quota:{${policy}:${part}}`;
}

export interface RedisQuotaStoreOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Per-command timeout (ms): a hung Redis must not hold leases hostage (default 500). */
  commandTimeoutMs?: number;
}

export class RedisQuotaStore implements QuotaStore {
  readonly backend = 'redis' as const;
  private readonly redis: Redis;
  private readonly log = logger('quota-redis');
  private up = false;

  constructor(options: RedisQuotaStoreOptions) {
    this.redis = new Redis(options.url, {
      // Fail fast while disconnected instead of queueing: the sidecar's failure mode decides, not a queue.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs ?? 500,
      connectTimeout: 2000,
      // Reconnect forever, at most a second apart, so recovery follows Redis within about a second.
      retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
    });
    this.redis.defineCommand('meshgateAcquire', { numberOfKeys: 1, lua: ACQUIRE_SCRIPT });
    svcBackendUp.set({ backend: 'redis' }, 0);
    this.redis.on('ready', () => {
      if (!this.up) this.log.info('redis reachable');
      this.up = true;
      svcBackendUp.set({ backend: 'redis' }, 1);
    });
    this.redis.on('error', (err: Error) => {
      if (this.up) this.log.warn({ err: err.message }, 'redis unreachable: global quota answers UNAVAILABLE until it is back');
      this.markDown();
    });
    this.redis.on('close', () => this.markDown());
  }

  private markDown(): void {
    this.up = false;
    svcBackendUp.set({ backend: 'redis' }, 0);
  }

  async acquire(request: AcquireRequest): Promise<Grant> {
    try {
      const [granted, remaining, resetMs, windowStartMs] = await this.redis.meshgateAcquire(
        counterKey(request.policy, request.key),
        request.limit,
        request.windowMs,
        request.requested,
        request.nextWindow ? '1' : '0',
      );
      return { granted, remaining, resetMs, windowStartMs };
    } catch (err) {
      throw new QuotaStoreUnavailable(`redis: ${(err as Error).message}`);
    }
  }

  ready(): boolean {
    return this.up && this.redis.status === 'ready';
  }

  async ping(): Promise<void> {
    try {
      await this.redis.ping();
    } catch (err) {
      throw new QuotaStoreUnavailable(`redis: ${(err as Error).message}`);
    }
  }

  /** Resolves true once connected, false after `timeoutMs`; start-up waits so /readyz is honest from the first probe. */
  connected(timeoutMs: number): Promise<boolean> {
    return redisReady(this.redis, timeoutMs);
  }

  async close(): Promise<void> {
    this.redis.disconnect();
    this.markDown();
  }
}
