// CLI registration for the authz tier (placeholder until the tier lands).
import type { Command } from 'commander';

export function registerAuthz(program: Command): void {
  program.command('authz').description('authz tier (not yet implemented)').action(() => {
    process.stderr.write('meshgate authz: not yet implemented\n');
    process.exitCode = 2;
  });
}
