// An operational failure of a CLI command (a service unreachable, an answer it cannot use): the CLI prints its one
// line and exits 1 — no stack trace, which is for bugs. Bad flags and config are UsageError (exit 2) instead.
export class CommandFailure extends Error {
  override name = 'CommandFailure';
}
