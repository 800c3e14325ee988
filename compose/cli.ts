#!/usr/bin/env node
// The `meshgate` CLI: one binary, a subcommand per tier and per registry operation (DESIGN §4).
import { Command, CommanderError } from 'commander';
import { registerEdge } from '../edge/command.js';
import { registerSidecar } from '../sidecar/command.js';
import { registerAuthz } from '../authz-svc/command.js';
import { registerQuota } from '../quota-svc/command.js';
import { registerRegistry } from '../registry/command.js';
import { registerUp } from './up-command.js';
import { UsageError } from '../core/config/usage-error.js';
import { CommandFailure } from '../core/node/command-failure.js';

const program = new Command('meshgate')
  .description('An API gateway built as a service mesh: edge, sidecars, authz, quota and registry.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerUp(program);
registerEdge(program);
registerSidecar(program);
registerAuthz(program);
registerQuota(program);
registerRegistry(program);

for (const command of program.commands) command.exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version are not failures; every usage error is exit 2 with nothing started.
    process.exitCode = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0 ? 0 : 2;
  } else if (err instanceof UsageError) {
    process.stderr.write(`meshgate: ${err.message}\n`);
    process.exitCode = 2;
  } else if (err instanceof CommandFailure) {
    process.stderr.write(`meshgate: ${err.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`meshgate: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  }
  // A command that failed has closed what it started; should a handle still hold the event loop, the process ends
  // anyway rather than stay up after saying it failed.
  setTimeout(() => process.exit(), 2_000).unref();
}
