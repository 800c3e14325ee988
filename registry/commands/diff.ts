// `meshgate diff FILE`: routes, services, policies and issuers the file would add, change or remove against the live snapshot.
import { Command, Option } from 'commander';
import { diffConfigs, formatDiff, isEmptyDiff, removals } from '../diff.js';
import { readLive } from '../publish.js';
import { readValidConfig } from './validate.js';
import { addStoreOptions, withStore, type StoreFlags } from './store-options.js';
import { configDigest } from '../../core/config/snapshot.js';

export function diffCommand(): Command {
  return addStoreOptions(
    new Command('diff')
      .description('show what `apply FILE` would change against the live snapshot')
      .argument('<file>', 'routes.yaml to compare')
      .addOption(new Option('--exit-code', 'exit 1 when there are changes (like git diff --exit-code)')),
  ).action(async (file: string, opts: StoreFlags & { exitCode?: boolean }) => {
    const config = await readValidConfig(file);
    if (!config) return;
    await withStore('diff', opts, async (store) => {
      const live = await readLive(store);
      const diff = diffConfigs(live.record?.config, config);
      const base = live.record ? `live version ${live.record.version}` : 'nothing applied yet';
      if (live.record?.digest === configDigest(config) || isEmptyDiff(diff)) {
        process.stdout.write(`no changes against ${base}\n`);
        return;
      }
      process.stdout.write(`against ${base}:\n`);
      for (const line of formatDiff(diff)) process.stdout.write(`  ${line}\n`);
      const removed = removals(diff);
      if (removed.length) process.stdout.write(`apply needs --allow-removals (removes ${removed.join(', ')})\n`);
      if (opts.exitCode) process.exitCode = 1;
    });
  });
}
