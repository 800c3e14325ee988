// `meshgate quota`: quota-svc as its own process — gRPC 7081, admin/metrics HTTP 7080, Redis from MESHGATE_REDIS.
import type { Command } from 'commander';
import { envOption, portOption } from '../core/config/cli-options.js';
import { UsageError } from '../core/config/usage-error.js';
import { logger } from '../core/telemetry/log.js';
import { bindFailureAsUsage, checkDistinctPorts } from '../core/node/bind-failure.js';

export function registerQuota(program: Command): void {
  program
    .command('quota')
    .description('run quota-svc: global rate limits leased to sidecars over gRPC, atomic in Redis')
    .addOption(portOption('--grpc-port <port>', 'MESHGATE_QUOTA_GRPC_PORT', 7081, 'gRPC listener (proto/quota.proto)'))
    .addOption(portOption('--http-port <port>', 'MESHGATE_QUOTA_HTTP_PORT', 7080, 'admin listener: /healthz /readyz /metrics /config'))
    .addOption(envOption('--redis <url>', 'MESHGATE_REDIS', 'Redis URL (redis://host:port); in-memory store when unset'))
    .addOption(envOption('--host <address>', 'MESHGATE_HOST', 'address the listeners bind').default('0.0.0.0'))
    .action(async (opts: { grpcPort: number; httpPort: number; redis?: string; host: string }) => {
      if (opts.redis !== undefined && !/^rediss?:\/\/[^\s]+$/.test(opts.redis)) {
        throw new UsageError('--redis (or MESHGATE_REDIS) must be a redis:// or rediss:// URL');
      }
      const ports = { '--grpc-port': opts.grpcPort, '--http-port': opts.httpPort };
      checkDistinctPorts(ports);
      // Loaded here, not at the top: every other subcommand of the CLI would otherwise load ioredis and the server.
      const { startQuota } = await import('./main.js');
      const node = await startQuota({ redis: opts.redis, grpcPort: opts.grpcPort, httpPort: opts.httpPort, host: opts.host }).catch((err: unknown) => {
        throw bindFailureAsUsage(err, ports);
      });
      const log = logger('process');
      const stop = (signal: string) => {
        log.info({ signal }, 'stopping');
        node.close().finally(() => process.exit(0));
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}
