// CLI registration for the quota tier (placeholder until the tier lands).
import type { Command } from 'commander';

export function registerQuota(program: Command): void {
  program.command('quota').description('quota tier (not yet implemented)').action(() => {
    process.stderr.write('meshgate quota: not yet implemented\n');
    process.exitCode = 2;
  });
}
