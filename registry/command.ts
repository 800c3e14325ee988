// CLI registration for the registry tier (placeholder until the tier lands).
import type { Command } from 'commander';

export function registerRegistry(program: Command): void {
  program.command('registry').description('registry tier (not yet implemented)').action(() => {
    process.stderr.write('meshgate registry: not yet implemented\n');
    process.exitCode = 2;
  });
}
