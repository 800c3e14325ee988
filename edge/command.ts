// CLI registration for the edge tier (placeholder until the tier lands).
import type { Command } from 'commander';

export function registerEdge(program: Command): void {
  program.command('edge').description('edge tier (not yet implemented)');
}
