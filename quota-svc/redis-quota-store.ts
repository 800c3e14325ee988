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
  /** PING period (ms) that notices a hung Redis when no traffic does (default 1000). */
  pingIntervalMs?: number;
}

/** ioredis' message for a command past `commandTimeout`. */
const COMMAND_TIMED_OUT = 'Command timed out';

export class RedisQuotaStore implements QuotaStore {
  readonly backend = 'redis' as const;
  private readonly redis: Redis;
  private readonly log = logger('quota-redis');
  private up = false;
  private readonly pinger: NodeJS.Timeout;
  private pinging = false;

  constructor(options: RedisQuotaStoreOptions) {
    const commandTimeout = options.commandTimeoutMs ?? 500;
    this.redis = new Redis(options.url, {
      // Fail fast while disconnected instead of queueing: the sidecar's failure mode decides, not a queue.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout,
      // A hung Redis (stopped, or packets dropped) keeps the connection open and ioredis sees no event: past this
      // long without a byte while commands wait, ioredis drops the connection and reconnects by retryStrategy.
      socketTimeout: 2 * commandTimeout,
      connectTimeout: 2000,
      // Reconnect forever, at most a second apart, so recovery follows Redis within about a second.
      retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
    });
    this.redis.defineCommand('meshgateAcquire', { numberOfKeys: 1, lua: ACQUIRE_SCRIPT });
    svcBackendUp.set({ backend: 'redis' }, 0);
    this.redis.on('ready', () => this.answered());
    this.redis.on('error', (err: Error) => this.markDown('redis unreachable: global quota answers UNAVAILABLE until it is back', err.message));
    this.redis.on('close', () => this.markDown());
    // Without traffic nothing would notice a hang: one PING at a time, each bounded by the command timeout.
    this.pinger = setInterval(() => this.pingOnce(), options.pingIntervalMs ?? 1000).unref();
  }

  /** Redis answered (the connection is ready, or a command succeeded): up, said once when it was down. */
  private answered(): void {
    if (this.up || this.redis.status !== 'ready') return;
    this.log.info('redis reachable');
    this.up = true;
    svcBackendUp.set({ backend: 'redis' }, 1);
  }

  /** Down; `message` is logged when it was up (once per outage), with the cause. */
  private markDown(message?: string, cause?: string): void {
    if (this.up && message) this.log.warn({ err: cause }, message);
    this.up = false;
    svcBackendUp.set({ backend: 'redis' }, 0);
  }

  /** A command failed: a timeout means Redis is hung or cut off though the connection looks open. */
  private failed(err: Error): QuotaStoreUnavailable {
    if (err.message === COMMAND_TIMED_OUT) this.markDown('redis not answering (hung or cut off): global quota answers UNAVAILABLE until it answers again', err.message);
    return new QuotaStoreUnavailable(`redis: ${err.message}`);
  }

  private pingOnce(): void {
    // Not connected: ioredis' reconnects are what bring it back ('ready').
    if (this.pinging || this.redis.status !== 'ready') return;
    this.pinging = true;
    this.ping()
      .catch(() => {})
      .finally(() => (this.pinging = false));
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
      if (!this.up) this.answered();
      return { granted, remaining, resetMs, windowStartMs };
    } catch (err) {
      throw this.failed(err as Error);
    }
  }

  ready(): boolean {
    return this.up && this.redis.status === 'ready';
  }

  async ping(): Promise<void> {
    try {
      await this.redis.ping();
      if (!this.up) this.answered();
    } catch (err) {
      throw this.failed(err as Error);
    }
  }

  /** Resolves true once connected, false after `timeoutMs`; start-up waits so /readyz is honest from the first probe. */
  connected(timeoutMs: number): Promise<boolean> {
    return redisReady(this.redis, timeoutMs);
  }

  async close(): Promise<void> {
    clearInterval(this.pinger);
    this.redis.disconnect();
    this.markDown();
  }
}
