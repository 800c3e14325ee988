// `meshgate apply FILE`: one versioned snapshot, written atomically; refuses removals without --allow-removals
// and fails cleanly when another apply got there first.
import { Command, Option } from 'commander';
import { parsePositiveInt } from '../../core/config/cli-options.js';
import { envOption } from '../../core/config/cli-options.js';
import { diffConfigs, formatDiff } from '../diff.js';
import { ApplyConflictError, RemovalRefusedError, publishSnapshot, readLive } from '../publish.js';
import { readValidConfig } from './validate.js';
import { addStoreOptions, fail, withStore, type StoreFlags } from './store-options.js';
import { ConfigInvalidError, formatError } from '../../core/config/check.js';

interface ApplyFlags extends StoreFlags {
  allowRemovals?: boolean;
  message?: string;
  author?: string;
  expectVersion?: number;
}

export function applyCommand(): Command {
  return addStoreOptions(
    new Command('apply')
      .description('apply a routes.yaml as one new versioned snapshot (atomic; the fleet picks it up through its watches)')
      .argument('<file>', 'routes.yaml to apply')
      .option('--allow-removals', 'allow removing routes or services (refused by default: add before remove)')
      .option('-m, --message <text>', 'why, kept with the snapshot')
      .addOption(envOption('--author <name>', 'MESHGATE_AUTHOR', 'who (default user@host)'))
      .addOption(new Option('--expect-version <n>', 'fail unless the live snapshot is this version (0 = none yet)').argParser((v) => (v === '0' ? 0 : parsePositiveInt(v)))),
  ).action(async (file: string, opts: ApplyFlags) => {
    const config = await readValidConfig(file);
    if (!config) return;
    await withStore('apply', opts, async (store) => {
      const live = await readLive(store);
      try {
        const result = await publishSnapshot(store, config, {
          author: opts.author,
          message: opts.message,
          allowRemovals: opts.allowRemovals,
          expectVersion: opts.expectVersion ?? live.record?.version ?? 0,
        });
        if (result.unchanged) {
          process.stdout.write(`unchanged: live version ${result.version} already has ${result.digest.slice(0, 19)}…\n`);
          return;
        }
        for (const line of formatDiff(diffConfigs(live.record?.config, config))) process.stdout.write(`  ${line}\n`);
        process.stdout.write(`applied version ${result.version} (${result.digest.slice(0, 19)}…)\n`);
      } catch (err) {
        if (err instanceof RemovalRefusedError || err instanceof ApplyConflictError) return fail('apply', err.message);
        if (err instanceof ConfigInvalidError) {
          for (const e of err.errors) process.stderr.write(`${formatError(e, file)}\n`);
          process.exitCode = 2;
          return;
        }
        throw err;
      }
    });
  });
}
