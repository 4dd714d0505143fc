/**
 * Errors a user can act on. UsageError: the command line is wrong (exit 2, names the flag). UserError: the
 * input is wrong or unavailable (exit 1). Anything else is a bug and prints a stack trace only with QDM_DEBUG=1.
 */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly exitCode = 2;
}

export class UserError extends Error {
  override name = 'UserError';
  readonly exitCode = 1;
}

/** Errors from library modules that carry a user-facing message (e.g. CheckpointError, StoreError). */
export function isUserFacing(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  // Library errors are named classes (FooError) with a message meant for users; plain Error/TypeError are bugs.
  return (
    error.name !== 'Error' && error.name !== 'TypeError' && error.name !== 'RangeError' && /Error$/.test(error.name)
  );
}
