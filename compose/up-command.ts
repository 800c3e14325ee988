// CLI registration for `meshgate up` (placeholder).
import type { Command } from 'commander';

export function registerUp(program: Command): void {
  program.command('up').description('embedded all-in-one mesh (not yet implemented)');
}
