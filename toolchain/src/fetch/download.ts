/**
 * Download a large file safely: bytes go to `<dest>.part`, an interrupted transfer resumes with an HTTP Range
 * request, the size (and optionally sha256) is checked, and only then is the part renamed to `dest`. So `dest`
 * is either absent or complete, never half written.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CLIError } from '../errors.ts';

export interface DownloadProgress {
  receivedBytes: number; // including bytes resumed from an earlier attempt
  totalBytes?: number; // when the server or the caller knows it
}

export interface DownloadOptions {
  onProgress?: (progress: DownloadProgress) => void;
  /** Refuse a file of any other size (checked against the server's length before downloading, and at the end). */
  expectedBytes?: number;
  /** Hex sha256 the finished file must have. */
  sha256?: string;
  signal?: AbortSignal;
  /** Extra attempts (each resuming the part file) after a dropped connection or a 5xx answer. Default 3. */
  retries?: number;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  sha256: string;
  /** Bytes of a part file left by an earlier call that were kept instead of downloaded again. */
  resumedBytes: number;
}

export class DownloadError extends CLIError {
  override name = 'DownloadError';
  /** Whether another attempt (resuming the part file) may succeed. */
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean) {
    super(message);
    this.retryable = retryable;
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** `bytes start-end/total` -> start and total (total undefined for `*`). */
function parseContentRange(header: string | null): { start: number; total?: number } | undefined {
  const match = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header?.trim() ?? '');
  if (!match) return undefined;
  return { start: Number(match[1]), total: match[2] === '*' ? undefined : Number(match[2]) };
}

function unsatisfiedTotal(header: string | null): number | undefined {
  const match = /^bytes \*\/(\d+)$/.exec(header?.trim() ?? '');
  return match ? Number(match[1]) : undefined;
}

interface Plan {
  response?: Response; // undefined: the part file already holds the whole file
  offset: number; // bytes kept from the part file
  total?: number;
}

/** Ask for the rest of the file; fall back to a full download when the server cannot resume. */
async function request(url: string, part: string, options: DownloadOptions): Promise<Plan> {
  let have = await fileSize(part);
  if (options.expectedBytes !== undefined && have > options.expectedBytes) have = 0;
  if (options.expectedBytes !== undefined && have === options.expectedBytes) return { offset: have, total: have };
  const headers: Record<string, string> = have > 0 ? { range: `bytes=${have}-` } : {};
  let response: Response;
  try {
    response = await fetch(url, { headers, signal: options.signal, redirect: 'follow' });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new DownloadError(`cannot reach ${url}: ${(error as Error).cause ?? (error as Error).message}`, true);
  }
  if (response.status === 416 && have > 0) {
    await response.body?.cancel();
    const total = unsatisfiedTotal(response.headers.get('content-range'));
    if (total === have) return { offset: have, total }; // the part is already complete
    await rm(part, { force: true });
    return request(url, part, options);
  }
  if (response.status === 206) {
    const range = parseContentRange(response.headers.get('content-range'));
    if (range?.start === have) return { response, offset: have, total: range.total };
    await response.body?.cancel();
    if (have === 0) throw new DownloadError(`${url} answered a full request with a partial range`, false);
    await rm(part, { force: true }); // a range we did not ask for: start over
    return request(url, part, options);
  }
  if (response.ok) {
    const length = response.headers.get('content-length');
    return { response, offset: 0, total: length === null ? undefined : Number(length) };
  }
  await response.body?.cancel();
  const message = `HTTP ${response.status} ${response.statusText} for ${url}`;
  throw new DownloadError(message, response.status >= 500 || response.status === 429);
}

/** Stream the response body after the kept bytes of the part file; returns the part's final size. */
async function receive(plan: Plan, part: string, options: DownloadOptions): Promise<number> {
  if (!plan.response) return plan.offset;
  const file = await open(part, plan.offset > 0 ? 'a' : 'w');
  let received = plan.offset;
  try {
    if (plan.response.body) {
      for await (const chunk of plan.response.body) {
        await file.write(chunk);
        received += chunk.length;
        options.onProgress?.({ receivedBytes: received, totalBytes: plan.total });
      }
    }
    await file.sync();
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new DownloadError(`connection lost after ${received} bytes: ${(error as Error).message}`, true);
  } finally {
    await file.close();
  }
  if (plan.total !== undefined && received !== plan.total) {
    throw new DownloadError(`connection closed after ${received} of ${plan.total} bytes`, true);
  }
  return received;
}

async function attempt(
  url: string,
  dest: string,
  part: string,
  options: DownloadOptions,
  onPlan: (plan: Plan) => void,
): Promise<Omit<DownloadResult, 'resumedBytes'>> {
  const plan = await request(url, part, options);
  onPlan(plan);
  const { expectedBytes } = options;
  if (expectedBytes !== undefined && plan.total !== undefined && plan.total !== expectedBytes) {
    await plan.response?.body?.cancel();
    throw new DownloadError(`size mismatch: ${url} is ${plan.total} bytes, expected ${expectedBytes}`, false);
  }
  const bytes = await receive(plan, part, options);
  if (expectedBytes !== undefined && bytes !== expectedBytes) {
    await rm(part, { force: true });
    throw new DownloadError(`size mismatch: received ${bytes} bytes, expected ${expectedBytes}`, false);
  }
  const sha256 = await fileSha256(part);
  if (options.sha256 !== undefined && sha256 !== options.sha256.toLowerCase()) {
    await rm(part, { force: true });
    throw new DownloadError(`sha256 mismatch for ${url}: got ${sha256}, expected ${options.sha256}`, false);
  }
  await rename(part, dest);
  return { path: dest, bytes, sha256 };
}

/**
 * Download `url` to `dest` via `dest.part`, resuming a part left by an earlier run. Throws DownloadError with
 * the HTTP status or the size/sha256 mismatch; the part file is kept when a later call can resume it.
 */
export async function downloadFile(url: string, dest: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const part = `${dest}.part`;
  await mkdir(dirname(dest), { recursive: true });
  const retries = options.retries ?? 3;
  let resumedBytes: number | undefined; // decided by the first attempt: later ones resume our own bytes
  const onPlan = (plan: Plan) => {
    resumedBytes ??= plan.offset;
  };
  for (let i = 0; ; i++) {
    try {
      return { ...(await attempt(url, dest, part, options, onPlan)), resumedBytes: resumedBytes ?? 0 };
    } catch (error) {
      if (!(error instanceof DownloadError) || !error.retryable || i >= retries || options.signal?.aborted) throw error;
    }
  }
}
