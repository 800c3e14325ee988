// CLI registration for the registry: validate, diff, apply, status, rollback, certs, and the registry service itself.
import { Command } from 'commander';
import { envOption, portOption } from '../core/config/cli-options.js';
import { logger } from '../core/telemetry/log.js';
import { validateCommand } from './commands/validate.js';
import { diffCommand } from './commands/diff.js';
import { applyCommand } from './commands/apply.js';
import { statusCommand } from './commands/status.js';
import { rollbackCommand } from './commands/rollback.js';
import { certsCommand } from './commands/certs.js';
import { addStoreOptions, type StoreFlags } from './commands/store-options.js';
import { UsageError } from '../core/config/usage-error.js';
import { EtcdStore } from '../core/store/etcd-store.js';
import { bindFailureAsUsage } from '../core/node/bind-failure.js';

function registryCommand(): Command {
  return addStoreOptions(
    new Command('registry')
      .description('run the registry service: JSON read API (snapshot, nodes, endpoints, rollout) and admin apply/rollback')
      .addOption(envOption('--host <address>', 'MESHGATE_HOST', 'address to bind').default('0.0.0.0'))
      .addOption(portOption('--port <port>', 'MESHGATE_REGISTRY_PORT', 7090, 'HTTP listener'))
      .addOption(envOption('--admin-token <token>', 'MESHGATE_ADMIN_TOKEN', 'bearer token for POST /v1/apply and /v1/rollback (unset: disabled)')),
  ).action(async (opts: StoreFlags & { host: string; port: number; adminToken?: string }) => {
    if (!opts.etcd) throw new UsageError('--etcd (or MESHGATE_ETCD) is required: the registry serves what is in etcd');
    // Loaded here, not at the top: the other subcommands of the CLI do not need the registry server.
    const { startRegistry } = await import('./main.js');
    const store = new EtcdStore({ endpoints: opts.etcd, prefix: opts.prefix });
    let server: Awaited<ReturnType<typeof startRegistry>>;
    try {
      server = await startRegistry({ store, host: opts.host, port: opts.port, adminToken: opts.adminToken });
    } catch (err) {
      await store.close().catch(() => undefined);
      throw bindFailureAsUsage(err, { '--port': opts.port });
    }
    const log = logger('process');
    const stop = async (signal: string) => {
      log.info({ signal }, 'stopping');
      try {
        await server.close();
        await store.close();
      } finally {
        process.exit(0);
      }
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });
}

export function registerRegistry(program: Command): void {
  for (const command of [validateCommand(), diffCommand(), applyCommand(), statusCommand(), rollbackCommand(), certsCommand(), registryCommand()])
    program.addCommand(command);
}
