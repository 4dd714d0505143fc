/**
 * Errors a user can act on are CLIErrors (as citty's CLIError(message, code)): one line naming what to fix, and
 * the exit code: 2 when the command line is wrong (UsageError: names the flag), 1 when the input, the data or the
 * environment is (UserError, and the library's own error classes, which extend CLIError). Anything else is a
 * bug: "internal error", the stack only with QDM_DEBUG=1.
 */
export class CLIError extends Error {
  override name = 'CLIError';
  /** The process exit code: 2 usage, 1 failure. */
  readonly code: number;
  constructor(message: string, code = 1, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

export class UsageError extends CLIError {
  override name = 'UsageError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, 2, options);
  }
}

export class UserError extends CLIError {
  override name = 'UserError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, 1, options);
  }
}
