// A usage or configuration error: the CLI prints its one line (naming the field) and exits 2.
export class UsageError extends Error {
  override name = 'UsageError';
}
