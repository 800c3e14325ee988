// quota-svc's gRPC API (proto/quota.proto): Acquire leases tokens from the store, Check reports the store's health.
import * as grpc from '@grpc/grpc-js';
import { logger } from '../core/telemetry/log.js';
import { quotaProto, type QuotaHandlers } from '../core/quota/quota-proto.js';
import { svcAcquireDuration, svcAcquires } from '../core/quota/quota-metrics.js';
import { QuotaStoreUnavailable, invalidAcquire, type QuotaStore } from '../core/quota/quota-store.js';

export interface QuotaGrpcServer {
  server: grpc.Server;
  port: number;
  close(): Promise<void>;
}

function failure(code: grpc.status, details: string): Partial<grpc.StatusObject> {
  return { code, details };
}

export function quotaHandlers(store: QuotaStore): QuotaHandlers {
  const log = logger('quota-grpc');
  const results = {
    granted: svcAcquires.labels({ result: 'granted' }),
    partial: svcAcquires.labels({ result: 'partial' }),
    exhausted: svcAcquires.labels({ result: 'exhausted' }),
    invalid: svcAcquires.labels({ result: 'invalid' }),
    error: svcAcquires.labels({ result: 'error' }),
  };
  return {
    Acquire(call, callback) {
      const request = call.request;
      const invalid = invalidAcquire(request);
      if (invalid) {
        results.invalid.inc();
        return callback(failure(grpc.status.INVALID_ARGUMENT, invalid));
      }
      const stopTimer = svcAcquireDuration.startTimer();
      store.acquire(request).then(
        (grant) => {
          stopTimer();
          (grant.granted === 0 ? results.exhausted : grant.granted < request.requested ? results.partial : results.granted).inc();
          callback(null, grant);
        },
        (err: Error) => {
          stopTimer();
          results.error.inc();
          if (err instanceof QuotaStoreUnavailable) return callback(failure(grpc.status.UNAVAILABLE, err.message));
          log.error({ err }, 'acquire failed');
          callback(failure(grpc.status.INTERNAL, 'acquire failed'));
        },
      );
    },
    Check(_call, callback) {
      store.ping().then(
        () => callback(null, { serving: true, backend: store.backend }),
        (err: Error) => callback(failure(grpc.status.UNAVAILABLE, err.message)),
      );
    },
  };
}

export async function startQuotaGrpc(store: QuotaStore, host: string, port: number): Promise<QuotaGrpcServer> {
  const server = new grpc.Server();
  server.addService(quotaProto().Quota.service, quotaHandlers(store));
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    server,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        // Let in-flight leases finish for a moment, then cut the rest.
        const force = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => (clearTimeout(force), resolve()));
      }),
  };
}
