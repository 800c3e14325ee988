// CLI registration for the sidecar tier (placeholder until the tier lands).
import type { Command } from 'commander';

export function registerSidecar(program: Command): void {
  program.command('sidecar').description('sidecar tier (not yet implemented)');
}
