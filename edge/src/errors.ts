/**
 * Errors the app turns into JSON responses. Every response body is `{ error, message, field? }`; nothing else
 * (no stack, no cause) leaves the process.
 */

export type ErrorCode =
  | 'bad_request'
  | 'not_found'
  | 'over_budget'
  | 'unsupported'
  | 'artifact_unavailable'
  | 'overloaded'
  | 'unauthorized'
  | 'rate_limited'
  | 'internal';

export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: 400 | 401 | 404 | 422 | 429 | 500 | 503;
  readonly code: ErrorCode;
  readonly field?: string;
  /** Response headers the error carries (Retry-After for `overloaded` and `rate_limited`, WWW-Authenticate). */
  readonly headers: Record<string, string>;

  constructor(
    status: HttpError['status'],
    code: ErrorCode,
    message: string,
    field?: string,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    this.headers = headers;
  }

  toJSON(): { error: ErrorCode; message: string; field?: string } {
    return this.field === undefined
      ? { error: this.code, message: this.message }
      : { error: this.code, message: this.message, field: this.field };
  }
}

export const badField = (field: string, message: string) => new HttpError(400, 'bad_request', message, field);

export const notFound = (field: string, message: string) => new HttpError(404, 'not_found', message, field);

/** The artifact exists but cannot be served (integrity failure, unreadable store, invalid manifest). */
export const unavailable = (message: string) => new HttpError(503, 'artifact_unavailable', message);

/** Anything that is not an HttpError becomes an opaque 500; the detail goes to the log only. */
export function toHttpError(error: unknown): HttpError {
  return error instanceof HttpError ? error : new HttpError(500, 'internal', 'internal error');
}
