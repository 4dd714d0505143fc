/**
 * Sampling in the browser (bundled by esbuild, served as /browser/sampler.js): the request is checked by the server's
 * own parser and planner (so bad input reads as the server's 400 would), the model file is fetched from
 * /browser/model/... and its sha256 checked with SubtleCrypto, onnxruntime-web runs it on WebGPU (falling back to
 * WASM, saying why; naming a software adapter), the status line gives the time left, and the sampler (DDIM, DDPM or
 * DPM-Solver++(2M)), the variant's noise correction and the seeded noise are @qdm/shared's, as on the server. The
 * server's samples of the same seed come back as npy for the side-by-side PSNR.
 */
import { decodeNpy, pixelDiff, type SamplerName, sampleBy, toUint8NHWC } from '@qdm/shared';
import type { EdgeConfig } from '../config.ts';
import { planSample } from '../engine/plan.ts';
import { HttpError } from '../errors.ts';
import { gridPng } from '../output.ts';
import { parseSampleRequest, randomUint32 } from '../sample-request.ts';

// NOTE: a runtime URL, not a bundled module: onnxruntime-web finds its wasm files beside it (wasmPaths).
const ORT_URL = '/browser/ort/ort.webgpu.bundle.min.mjs';

interface OrtTensor {
  data: unknown;
}
interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface Ort {
  env: { wasm: { wasmPaths?: string; numThreads?: number } };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => OrtTensor;
  InferenceSession: { create(bytes: Uint8Array, options: { executionProviders: string[] }): Promise<OrtSession> };
}

export interface BrowserParams {
  model: string;
  variant: string;
  seed: string;
  n: string;
  steps: string;
  /** ddim (default), ddpm, dpm++2m or dpmpp2m. */
  sampler?: string;
  eta?: string;
}

/** What `GPUAdapter.info` (or the older `requestAdapterInfo()`) reports, and the adapter's fallback flag. */
export interface AdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

/**
 * A software WebGPU adapter (SwiftShader, or one the browser flags as a fallback) computes on the CPU: correct, and
 * far slower than a GPU, so the page says so and suggests fewer steps. Chrome's SwiftShader reports vendor
 * "google", architecture "swiftshader".
 */
export function softwareAdapter(info: AdapterInfo | null): string | null {
  if (!info) return null;
  const named = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
  if (/swiftshader/i.test(named) || info.vendor?.toLowerCase() === 'google') return `a software adapter (${named})`;
  if (info.isFallbackAdapter) return named ? `a fallback adapter (${named})` : 'a fallback adapter';
  return null;
}

/** The status line while sampling: the backend, the step, and once a step is timed, the time left. */
export function progressText(backend: string, stepMs: number[], total: number): string {
  const done = stepMs.length;
  if (done === 0) return `${backend}: starting ${total} steps`;
  const mean = stepMs.reduce((a, b) => a + b, 0) / done;
  const leftS = (mean * (total - done)) / 1000;
  const left = done >= total ? 'sampling done' : `about ${leftS < 10 ? leftS.toFixed(1) : Math.round(leftS)} s left`;
  return `${backend}: step ${done} of ${total}, ${left}`;
}

export interface BrowserResult {
  backend: 'webgpu' | 'wasm';
  /** Why WebGPU was not used, when it was not. */
  fallback: string | null;
  /** When WebGPU runs on a software adapter: which one (the page suggests fewer steps). */
  software: string | null;
  sha256: string;
  seed: number;
  sampler: SamplerName;
  steps: number;
  respacing: string;
  stepMs: number[];
  /** Same-seed PSNR of the uint8 images (@qdm/shared pixel-metrics.ts: identical images are PSNR_CAP_DB). */
  psnrDb: number;
  /** Every image identical to the server's. */
  identical: boolean;
  maxAbs: number;
  browserPng: Uint8Array;
  serverPng: Uint8Array;
}

/** The server's error body, as the page shows it: "400 bad_request (seed): seed must be ...". */
export function describeError(status: number, body: { error?: string; message?: string; field?: string }): string {
  return `${status} ${body.error ?? 'error'}${body.field ? ` (${body.field})` : ''}: ${body.message ?? ''}`;
}

async function json<T>(url: string): Promise<T> {
  const res = await fetch(url);
  const body = await res.json();
  if (!res.ok) throw new Error(describeError(res.status, body));
  return body as T;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function modelBytes(model: string, variant: string, expected: string): Promise<Uint8Array> {
  const res = await fetch(`/browser/model/${encodeURIComponent(model)}/${encodeURIComponent(variant)}`);
  if (!res.ok) throw new Error(describeError(res.status, await res.json().catch(() => ({}))));
  const bytes = new Uint8Array(await res.arrayBuffer());
  const actual = await sha256Hex(bytes);
  const header = res.headers.get('x-qdm-sha256');
  if (actual !== expected || header !== expected) {
    throw new Error(`${variant}: the model file's sha256 ${actual} does not match the manifest's ${expected}`);
  }
  return bytes;
}

/** WebGPU when the browser has an adapter and the EP takes the model; else WASM, with the reason. */
async function openSession(
  ort: Ort,
  bytes: Uint8Array,
): Promise<{ session: OrtSession; backend: 'webgpu' | 'wasm'; fallback: string | null; software: string | null }> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<GpuAdapter | null> } }).gpu;
  let fallback: string;
  const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
  if (!gpu) fallback = 'this browser has no WebGPU (navigator.gpu is undefined)';
  else if (!adapter) fallback = 'WebGPU gave no adapter';
  else {
    try {
      return {
        session: await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] }),
        backend: 'webgpu',
        fallback: null,
        software: softwareAdapter(await adapterInfo(adapter)),
      };
    } catch (error) {
      fallback = `the WebGPU EP refused the model: ${(error as Error).message}`;
    }
  }
  return {
    session: await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] }),
    backend: 'wasm',
    fallback,
    software: null,
  };
}

interface GpuAdapter {
  info?: AdapterInfo;
  isFallbackAdapter?: boolean;
  requestAdapterInfo?: () => Promise<AdapterInfo>;
}

/** `adapter.info` (current browsers) or `requestAdapterInfo()` (older Chrome), with the fallback flag. */
async function adapterInfo(adapter: GpuAdapter): Promise<AdapterInfo | null> {
  const info = adapter.info ?? (await adapter.requestAdapterInfo?.().catch(() => undefined));
  const isFallbackAdapter = Boolean(info?.isFallbackAdapter ?? adapter.isFallbackAdapter);
  if (!info) return isFallbackAdapter ? { isFallbackAdapter } : null;
  const { vendor, architecture, device, description } = info;
  return { vendor, architecture, device, description, isFallbackAdapter };
}

function compare(a: Float32Array, b: Float32Array, n: number, shape: [number, number, number]) {
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
  const diff = pixelDiff(toUint8NHWC(a, n, ...shape), toUint8NHWC(b, n, ...shape), n);
  return { maxAbs, psnrDb: diff.psnrMean, identical: diff.identical === n };
}

export async function runInBrowser(params: BrowserParams, onStatus: (text: string) => void): Promise<BrowserResult> {
  const { limits } = await json<{ limits: Omit<EdgeConfig, 'defaultModel'> & { maxModelBytes: number | null } }>(
    '/models',
  );
  const config = { ...limits, defaultModel: params.model, maxModelBytes: Infinity } as EdgeConfig;
  const raw = { model: params.model, variant: params.variant, seed: params.seed, n: params.n, steps: params.steps };
  const manifest = await json<Parameters<typeof planSample>[1]>(
    `/browser/manifest/${encodeURIComponent(params.model)}`,
  );
  let request: ReturnType<typeof parseSampleRequest>;
  let plan: ReturnType<typeof planSample>;
  try {
    const sampler = params.sampler ? { sampler: params.sampler } : {};
    request = parseSampleRequest({ ...raw, ...sampler, eta: params.eta ?? '0' }, config, randomUint32);
    if (!manifest.variants[request.variant]) {
      throw new HttpError(404, 'not_found', `model ${manifest.name} has no variant ${request.variant}`, 'variant');
    }
    plan = planSample(request, manifest, config);
  } catch (error) {
    if (error instanceof HttpError) throw new Error(describeError(error.status, error.toJSON()));
    throw error;
  }
  const entry = manifest.variants[request.variant];
  onStatus(`fetching ${entry.file} (${(entry.bytes / 1e6).toFixed(2)} MB) and checking its sha256`);
  const bytes = await modelBytes(request.model ?? params.model, request.variant, entry.sha256);
  const ort = (await import(/* @vite-ignore */ ORT_URL)) as Ort;
  ort.env.wasm.wasmPaths = '/browser/ort/';
  ort.env.wasm.numThreads = 1;
  const { session, backend, fallback, software } = await openSession(ort, bytes);
  const label = software ? `${backend} on ${software}` : backend;
  const [c, h, w] = plan.shape;
  const stepMs: number[] = [];
  onStatus(progressText(label, stepMs, plan.steps));
  let x: Float32Array;
  try {
    const denoiser = async (xt: Float32Array, t: Float32Array, batch: number) => {
      const started = performance.now();
      const out = await session.run({
        x: new ort.Tensor('float32', xt, [batch, c, h, w]),
        t: new ort.Tensor('float32', t, [batch]),
      });
      stepMs.push(performance.now() - started);
      onStatus(progressText(label, stepMs, plan.steps));
      return out.out.data as Float32Array;
    };
    x = await sampleBy(plan.sampler, denoiser, {
      diffusion: plan.diffusion,
      shape: plan.shape,
      batch: request.n,
      seed: request.seed,
      eta: request.eta,
      correction: plan.correction,
    });
  } finally {
    await session.release();
  }
  onStatus('sampling the same seed on the server');
  const query = new URLSearchParams({
    ...raw,
    seed: String(request.seed),
    sampler: plan.sampler,
    steps: plan.respacing,
    eta: String(request.eta),
    format: 'npy',
  });
  const res = await fetch(`/sample?${query}`);
  if (!res.ok) throw new Error(`server: ${describeError(res.status, await res.json().catch(() => ({})))}`);
  const server = decodeNpy(new Uint8Array(await res.arrayBuffer())).data as Float32Array;
  const { maxAbs, psnrDb, identical } = compare(x, server, request.n, plan.shape);
  const samples = (data: Float32Array) => ({ x: data, n: request.n, c, h, w });
  return {
    backend,
    fallback,
    software,
    sha256: entry.sha256,
    seed: request.seed,
    sampler: plan.sampler,
    steps: plan.steps,
    respacing: plan.respacing,
    stepMs,
    psnrDb,
    identical,
    maxAbs,
    browserPng: gridPng(samples(x)),
    serverPng: gridPng(samples(server)),
  };
}
