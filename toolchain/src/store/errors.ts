/**
 * StoreError: one line a user can act on, naming the location or key and the cause. The CLI prints the message
 * without a stack trace (it is a named `...Error` class); the original error stays on `cause` for QDM_DEBUG.
 */
import { CLIError } from '../errors.ts';
export class StoreError extends CLIError {
  override name = 'StoreError';
  /** The store location or object key the failure is about (s3://bucket/key or a path). */
  readonly where: string;
  /** The message without the location. */
  readonly detail: string;

  constructor(where: string, detail: string, options?: { cause?: unknown }) {
    super(`${where}: ${detail}`, 1, options);
    this.where = where;
    this.detail = detail;
  }
}

interface AwsLikeError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

/** A short description of an SDK, network or file system error: "AccessDenied (HTTP 403): ...". */
export function describeCause(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const e = error as AwsLikeError;
  // The SDK's own text names its provider chain, not what to set.
  if (e.name === 'CredentialsProviderError') {
    return 'no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)';
  }
  const status = e.$metadata?.httpStatusCode;
  const code = e.code ?? (e.name && e.name !== 'Error' ? e.name : undefined);
  const message = e.message ?? '';
  // Node's network errors already start with their code ("connect ECONNREFUSED ...").
  const label = code && !message.includes(code) ? code : undefined;
  const head = [label, status ? `(HTTP ${status})` : undefined].filter(Boolean).join(' ');
  const attempts = e.$metadata?.attempts ?? 1;
  const text = [head, message !== label ? message : ''].filter((s) => s.length > 0).join(': ') || 'unknown error';
  return attempts > 1 ? `${text} (after ${attempts} attempts)` : text;
}

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || (error as AwsLikeError).code === 'ABORT_ERR');
}

/** Wraps any error as a StoreError for `where`, keeping StoreErrors (they already name their location). */
export function storeError(where: string, action: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  if (isAbortError(error)) return new StoreError(where, `${action} aborted`, { cause: error });
  return new StoreError(where, `${action} failed: ${describeCause(error)}`, { cause: error });
}

export function isNotFound(error: unknown): boolean {
  const e = error as AwsLikeError & { code?: string };
  return (
    e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.code === 'ENOENT' || e?.$metadata?.httpStatusCode === 404
  );
}
