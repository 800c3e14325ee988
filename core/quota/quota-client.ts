// How a sidecar reaches the global limiter: over gRPC to quota-svc, or straight to a store in the same process.
import * as grpc from '@grpc/grpc-js';
import { quotaProto, type QuotaClient } from './quota-proto.js';
import type { AcquireRequest, Grant, QuotaStore } from './quota-store.js';

export interface QuotaBackend {
  /** A description for logs and /readyz (address or "in-process"). */
  readonly target: string;
  acquire(request: AcquireRequest, timeoutMs: number): Promise<Grant>;
  /** Resolves when quota-svc and its store answer. */
  check(timeoutMs: number): Promise<void>;
  close(): void;
}

/** A failed call: `retryable` false means the request itself was refused (INVALID_ARGUMENT), not the service. */
export class QuotaCallError extends Error {
  override name = 'QuotaCallError';
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // grpc-js backs off up to 120 s between reconnects by default; recovery after an outage should take about a second.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  // Notice a dead quota-svc on an idle channel instead of waiting for a request to time out.
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
};

export class GrpcQuotaBackend implements QuotaBackend {
  private readonly client: QuotaClient;

  constructor(readonly target: string) {
    this.client = new (quotaProto().Quota)(target, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    // Connect now, so the first request's lease does not pay the connection set-up inside its deadline.
    this.client.getChannel().getConnectivityState(true);
  }

  acquire(request: AcquireRequest, timeoutMs: number): Promise<Grant> {
    return new Promise((resolve, reject) => {
      this.client.Acquire(request, { deadline: Date.now() + timeoutMs }, (err, response) => {
        if (err || !response) return reject(new QuotaCallError(err?.details || err?.message || 'empty response', err?.code !== grpc.status.INVALID_ARGUMENT));
        resolve(response);
      });
    });
  }

  check(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.Check({}, { deadline: Date.now() + timeoutMs }, (err, response) => {
        if (err || !response?.serving) return reject(new QuotaCallError(err?.details || 'not serving', true));
        resolve();
      });
    });
  }

  close(): void {
    this.client.close();
  }
}

/** A store in this process (embedded mode, tests): the same contract without the network. */
export class StoreQuotaBackend implements QuotaBackend {
  readonly target = 'in-process';
  constructor(private readonly store: QuotaStore) {}

  async acquire(request: AcquireRequest): Promise<Grant> {
    try {
      return await this.store.acquire(request);
    } catch (err) {
      throw new QuotaCallError((err as Error).message, true);
    }
  }

  async check(): Promise<void> {
    await this.store.ping();
  }

  close(): void {}
}

/** No quota-svc configured: every call fails, so global policies run on their failure mode. */
export class AbsentQuotaBackend implements QuotaBackend {
  readonly target = 'none';
  async acquire(): Promise<Grant> {
    throw new QuotaCallError('no quota-svc configured (set MESHGATE_QUOTA)', true);
  }
  async check(): Promise<void> {
    throw new QuotaCallError('no quota-svc configured (set MESHGATE_QUOTA)', true);
  }
  close(): void {}
}
