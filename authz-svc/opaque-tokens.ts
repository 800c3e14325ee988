// Opaque tokens: 256 random bits handed out once; only their sha256 is kept, in Redis (or memory), with TTL and metadata.
import { redisReady } from '../core/store/redis-ready.js';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { logger } from '../core/telemetry/log.js';
import { OPAQUE_TOKEN_PREFIX } from '../core/auth/introspection.js';

/** What is remembered about an opaque token (never the token itself). */
export interface OpaqueRecord {
  sub: string;
  scope?: string;
  clientId?: string;
  aud?: string[];
  iss: string;
  /** Epoch seconds. */
  iat: number;
  exp: number;
  claims?: Record<string, unknown>;
}

export interface OpaqueTokenStore {
  readonly backend: 'redis' | 'memory';
  save(hash: string, record: OpaqueRecord, ttlSeconds: number): Promise<void>;
  load(hash: string): Promise<OpaqueRecord | undefined>;
  /** True when a record was removed. */
  remove(hash: string): Promise<boolean>;
  ready(): boolean;
  close(): Promise<void>;
}

/** Thrown when the backend cannot answer; introspection turns it into gRPC UNAVAILABLE (the sidecar's policy decides). */
export class OpaqueStoreUnavailable extends Error {
  override name = 'OpaqueStoreUnavailable';
}

/** 32 random bytes (256 bits) in base64url after a recognisable prefix: `mgo_` + 43 characters. */
export function newOpaqueToken(): string {
  return OPAQUE_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function looksOpaque(token: string): boolean {
  return token.length === OPAQUE_TOKEN_PREFIX.length + 43 && token.startsWith(OPAQUE_TOKEN_PREFIX) && /^[A-Za-z0-9_-]+$/.test(token.slice(4));
}

/** The embedded mode's store: a Map with expiry checked on read and swept every minute. */
export class MemoryOpaqueTokenStore implements OpaqueTokenStore {
  readonly backend = 'memory' as const;
  private readonly records = new Map<string, { record: OpaqueRecord; expiresAt: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => {
      const t = this.now();
      for (const [hash, held] of this.records) if (held.expiresAt <= t) this.records.delete(hash);
    }, 60_000);
    this.sweeper.unref();
  }

  async save(hash: string, record: OpaqueRecord, ttlSeconds: number): Promise<void> {
    this.records.set(hash, { record, expiresAt: this.now() + ttlSeconds * 1000 });
  }

  async load(hash: string): Promise<OpaqueRecord | undefined> {
    const held = this.records.get(hash);
    if (!held) return undefined;
    if (held.expiresAt <= this.now()) {
      this.records.delete(hash);
      return undefined;
    }
    return held.record;
  }

  async remove(hash: string): Promise<boolean> {
    return this.records.delete(hash);
  }

  ready(): boolean {
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.records.clear();
  }
}

/** Redis: one string key per token hash, `SET … EX ttl`, so Redis expires it with the token. */
export class RedisOpaqueTokenStore implements OpaqueTokenStore {
  readonly backend = 'redis' as const;
  private readonly redis: Redis;
  private readonly log = logger('opaque-tokens');
  private up = false;

  constructor(url: string, private readonly keyPrefix = 'meshgate:opaque:') {
    this.redis = new Redis(url, {
      // Fail fast while disconnected: the sidecar's introspection failure mode decides, not a queue here.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 1000,
      connectTimeout: 2000,
      retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
    });
    this.redis.on('ready', () => {
      if (!this.up) this.log.info('redis reachable');
      this.up = true;
    });
    this.redis.on('error', (err: Error) => {
      if (this.up) this.log.warn({ err: err.message }, 'redis unreachable: opaque tokens cannot be issued or introspected until it is back');
      this.up = false;
    });
    this.redis.on('close', () => (this.up = false));
  }

  async save(hash: string, record: OpaqueRecord, ttlSeconds: number): Promise<void> {
    await this.call(() => this.redis.set(this.keyPrefix + hash, JSON.stringify(record), 'EX', ttlSeconds));
  }

  async load(hash: string): Promise<OpaqueRecord | undefined> {
    const text = await this.call(() => this.redis.get(this.keyPrefix + hash));
    return text === null ? undefined : (JSON.parse(text) as OpaqueRecord);
  }

  async remove(hash: string): Promise<boolean> {
    return (await this.call(() => this.redis.del(this.keyPrefix + hash))) > 0;
  }

  ready(): boolean {
    return this.up && this.redis.status === 'ready';
  }

  /** Resolves true once connected, false after `timeoutMs`. */
  connected(timeoutMs: number): Promise<boolean> {
    return redisReady(this.redis, timeoutMs);
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new OpaqueStoreUnavailable(`redis: ${(err as Error).message}`);
    }
  }
}
