/**
 * One `/sample` endpoint of the edge API, asked for one image per request (`seed=S&n=1&steps=...&format=npy`;
 * the body is float32 NCHW [1, C, H, W] in [-1, 1]). A request that fails by network error, timeout, 429 or 5xx is
 * retried with exponential backoff; other 4xx answers are final (the request itself is wrong). Every failed
 * attempt is kept, so the report can say what went wrong.
 */
import { decodeNpy } from '@qdm/shared';

export interface EndpointOptions {
  steps: string;
  eta: number;
  /** Sent as `sampler` when given (absent: the endpoint's default). */
  sampler?: string;
  /** Per attempt. */
  timeoutMs: number;
  /** Further attempts after the first. */
  retries: number;
  /** Wait before retry r (1-based): backoffMs * 2^(r-1), at most 5 s. */
  backoffMs: number;
  fetch?: typeof fetch;
}

export interface SampleInfo {
  model: string | null;
  variant: string | null;
  sha256: string | null;
  steps: string | null;
}

export interface FetchedSample {
  ok: true;
  seed: number;
  /** float32 [C, H, W] in [-1, 1]. */
  pixels: Float32Array;
  shape: [number, number, number];
  /** Client-side wall time of the successful attempt, request sent to body read. */
  ms: number;
  attempts: number;
  errors: string[];
  /** `Server-Timing` durations by name (load, step, total ...). */
  serverTiming: Record<string, number>;
  info: SampleInfo;
}

export interface FailedSample {
  ok: false;
  seed: number;
  attempts: number;
  errors: string[];
}

export type SampleOutcome = FetchedSample | FailedSample;

/**
 * `base` is the server (`http://host:8787`) or its /sample URL, possibly with fixed fields such as
 * `?model=mnist32&variant=int8`; seed, n, steps, eta and format are set here.
 */
export function sampleUrl(
  base: string,
  seed: number,
  options: Pick<EndpointOptions, 'steps' | 'eta' | 'sampler'>,
): string {
  const url = new URL(base);
  if (!/\/sample\/?$/.test(url.pathname)) url.pathname = `${url.pathname.replace(/\/$/, '')}/sample`;
  url.searchParams.set('seed', String(seed));
  url.searchParams.set('n', '1');
  url.searchParams.set('steps', options.steps);
  url.searchParams.set('eta', String(options.eta));
  if (options.sampler) url.searchParams.set('sampler', options.sampler);
  url.searchParams.set('format', 'npy');
  return url.toString();
}

/** `load;dur=12.5;desc="...", step;dur=3` -> {load: 12.5, step: 3}. */
export function parseServerTiming(header: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  if (!header) return out;
  for (const metric of header.split(',')) {
    const [name, ...params] = metric.trim().split(';');
    const dur = params.map((p) => /^\s*dur=([0-9.eE+-]+)\s*$/.exec(p)).find((m) => m);
    if (name && dur) out[name.trim()] = Number(dur[1]);
  }
  return out;
}

class AttemptError extends Error {
  readonly retry: boolean;
  constructor(message: string, retry: boolean) {
    super(message);
    this.retry = retry;
  }
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function errorText(res: Response): Promise<string> {
  const text = (await res.text().catch(() => '')).slice(0, 300);
  try {
    const body = JSON.parse(text) as { error?: string; message?: string };
    return body.message ?? body.error ?? text;
  } catch {
    return text;
  }
}

async function attempt(url: string, seed: number, options: EndpointOptions) {
  const started = performance.now();
  let res: Response;
  let body: Uint8Array;
  try {
    res = await (options.fetch ?? fetch)(url, { signal: AbortSignal.timeout(options.timeoutMs) });
    if (res.status !== 200) {
      const retry = res.status === 429 || res.status >= 500;
      throw new AttemptError(`HTTP ${res.status}: ${await errorText(res)}`, retry);
    }
    body = new Uint8Array(await res.arrayBuffer());
  } catch (error) {
    if (error instanceof AttemptError) throw error;
    const e = error as Error & { cause?: { code?: string; message?: string } };
    const why =
      e.name === 'TimeoutError'
        ? `timed out after ${options.timeoutMs} ms`
        : (e.cause?.code ?? e.cause?.message ?? e.message);
    throw new AttemptError(`request failed: ${why}`, true);
  }
  const ms = performance.now() - started;
  const echoed = res.headers.get('x-qdm-seed');
  if (echoed !== null && Number(echoed) !== seed) throw new AttemptError(`answered seed ${echoed}, not ${seed}`, false);
  let tensor: ReturnType<typeof decodeNpy>;
  try {
    tensor = decodeNpy(body);
  } catch (error) {
    throw new AttemptError(`the body is not .npy (${(error as Error).message}); is this the qdm edge API?`, false);
  }
  const [n, c, h, w] = tensor.shape;
  if (tensor.dtype !== 'float32' || tensor.shape.length !== 4 || n !== 1) {
    throw new AttemptError(`expected float32 [1,C,H,W], got ${tensor.dtype} [${tensor.shape}]`, false);
  }
  const info: SampleInfo = {
    model: res.headers.get('x-qdm-model'),
    variant: res.headers.get('x-qdm-variant'),
    sha256: res.headers.get('x-qdm-sha256'),
    steps: res.headers.get('x-qdm-steps'),
  };
  const serverTiming = parseServerTiming(res.headers.get('server-timing'));
  return { pixels: tensor.data as Float32Array, shape: [c, h, w] as [number, number, number], ms, info, serverTiming };
}

/** One image of `seed`, retried as the options allow. */
export async function fetchSample(base: string, seed: number, options: EndpointOptions): Promise<SampleOutcome> {
  const url = sampleUrl(base, seed, options);
  const errors: string[] = [];
  for (let i = 0; i <= options.retries; i++) {
    if (i > 0) await sleep(Math.min(options.backoffMs * 2 ** (i - 1), 5000));
    try {
      const got = await attempt(url, seed, options);
      return { ok: true, seed, attempts: i + 1, errors, ...got };
    } catch (error) {
      const e = error as AttemptError;
      errors.push(e.message);
      if (!e.retry) return { ok: false, seed, attempts: i + 1, errors };
    }
  }
  return { ok: false, seed, attempts: options.retries + 1, errors };
}
