// `meshgate validate FILE`: every error as file:line: field.path: message (exit 2), or a one-line summary (exit 0).
import { Command } from 'commander';
import { formatErrors } from '../../core/config/check.js';
import { configDigest } from '../../core/config/snapshot.js';
import type { MeshConfig } from '../../core/config/schema.js';
import { UsageError } from '../../core/config/usage-error.js';

/** Read and validate a routes.yaml; on errors print them (the first 50) to stderr, set exit code 2 and return undefined. */
export async function readValidConfig(file: string): Promise<MeshConfig | undefined> {
  // The YAML reader is loaded here, not at the top: every `meshgate` process loads this module with the CLI.
  const { readConfigFile } = await import('../../core/config/load.js');
  let result: Awaited<ReturnType<typeof readConfigFile>>;
  try {
    result = await readConfigFile(file);
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const { config, errors } = result;
  if (config) return config;
  for (const line of formatErrors(errors, file)) process.stderr.write(`${line}\n`);
  process.stderr.write(`${file}: ${errors.length} error(s); nothing applied\n`);
  process.exitCode = 2;
  return undefined;
}

export function summary(file: string, config: MeshConfig): string {
  const auth = Object.keys(config.policies?.auth ?? {}).length;
  const quota = Object.keys(config.policies?.quota ?? {}).length;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return (
    `${file}: valid — ${plural(config.routes.length, 'route')}, ${plural(config.services.length, 'service')}, ` +
    `${plural(auth, 'auth policy').replace(/policys$/, 'policies')}, ${plural(quota, 'quota policy').replace(/policys$/, 'policies')}, ` +
    `${plural(config.issuers?.length ?? 0, 'issuer')} (${configDigest(config).slice(0, 19)}…)`
  );
}

export function validateCommand(): Command {
  return new Command('validate')
    .description('validate a routes.yaml without applying it (no etcd needed); exit 2 on errors')
    .argument('<file>', 'routes.yaml to check')
    .action(async (file: string) => {
      const config = await readValidConfig(file);
      if (config) process.stdout.write(`${summary(file, config)}\n`);
    });
}
