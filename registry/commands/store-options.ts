// The --etcd/--prefix options every registry command shares, and running a command against the store they name.
import { Command } from 'commander';
import { EtcdError, GRPCGenericError } from 'etcd3';
import { envOption } from '../../core/config/cli-options.js';
import { UsageError } from '../../core/config/usage-error.js';
import { EtcdStore, DEFAULT_PREFIX, StoreUnavailableError } from '../../core/store/etcd-store.js';
import { logger } from '../../core/telemetry/log.js';
import type { Store } from '../../core/store/store.js';

export interface StoreFlags {
  etcd?: string;
  prefix: string;
}

export function addStoreOptions(command: Command): Command {
  return command
    .addOption(envOption('--etcd <endpoints>', 'MESHGATE_ETCD', 'etcd endpoints, comma-separated (http://127.0.0.1:2379)'))
    .addOption(envOption('--prefix <prefix>', 'MESHGATE_PREFIX', 'etcd key prefix').default(DEFAULT_PREFIX));
}

/**
 * Open the etcd store the flags name, run `work`, always close it (so the CLI exits). An unreachable etcd, or one that
 * refuses the request, is one line on stderr and exit 1; the store's own warnings stay off stdout, which carries the command's output.
 */
export async function withStore<T>(command: string, flags: StoreFlags, work: (store: Store) => Promise<T>): Promise<T | undefined> {
  if (!flags.etcd) throw new UsageError('--etcd (or MESHGATE_ETCD) is required: this command talks to etcd');
  if (!flags.prefix.endsWith('/')) throw new UsageError(`--prefix "${flags.prefix}" must end with "/"`);
  let store: EtcdStore;
  try {
    const log = logger('store');
    log.level = 'error';
    store = new EtcdStore({ endpoints: flags.etcd, prefix: flags.prefix, log });
  } catch (err) {
    throw new UsageError(`--etcd "${flags.etcd}": ${(err as Error).message}`);
  }
  try {
    return await work(store);
  } catch (err) {
    if (err instanceof StoreUnavailableError) fail(command, err.message);
    // etcd refused the request (too large, a permission, a quota): one line, as for an etcd that is down, not a stack.
    else if (err instanceof GRPCGenericError || err instanceof EtcdError) fail(command, `etcd refused the request: ${err.message}; nothing was written`);
    else throw err;
    return undefined;
  } finally {
    await store.close();
  }
}

/** An operational failure (etcd down, conflict, refusal): one line on stderr, exit 1. */
export function fail(command: string, message: string): void {
  process.stderr.write(`meshgate ${command}: ${message}\n`);
  process.exitCode = 1;
}
