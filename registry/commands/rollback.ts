// `meshgate rollback [VERSION]`: make a kept snapshot live again as a new version (default: the previous one).
import { Command } from 'commander';
import { envOption, parsePositiveInt } from '../../core/config/cli-options.js';
import { ApplyConflictError, SnapshotNotKeptError, rollbackSnapshot } from '../publish.js';
import { addStoreOptions, fail, withStore, type StoreFlags } from './store-options.js';

export function rollbackCommand(): Command {
  return addStoreOptions(
    new Command('rollback')
      .description('make a kept snapshot live again, as a new version (default: the one before the live one)')
      .argument('[version]', 'kept version to restore', parsePositiveInt)
      .option('-m, --message <text>', 'why (default "rollback to version N")')
      .addOption(envOption('--author <name>', 'MESHGATE_AUTHOR', 'who (default user@host)')),
  ).action(async (version: number | undefined, opts: StoreFlags & { message?: string; author?: string }) => {
    await withStore('rollback', opts, async (store) => {
      try {
        const result = await rollbackSnapshot(store, { version, message: opts.message, author: opts.author });
        process.stdout.write(`rolled back: version ${result.version} serves the config of version ${result.restored} (${result.digest.slice(0, 19)}…)\n`);
      } catch (err) {
        if (err instanceof ApplyConflictError || err instanceof SnapshotNotKeptError) return fail('rollback', (err as Error).message);
        throw err;
      }
    });
  });
}
