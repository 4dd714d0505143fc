/**
 * onnxruntime-node sessions for the toolchain: creation with explicit threading/optimization settings, and the
 * U-Net as a `Denoiser` for the samplers in @qdm/shared.
 */
import { availableParallelism } from 'node:os';
import type { Denoiser } from '@qdm/shared';
import * as ort from 'onnxruntime-node';
import { type Device, executionProvider } from './devices.ts';
import { profilingOptions, trackPlacement } from './placement.ts';

export type OptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface CreateSessionOptions {
  /** intra-op threads; default: chosen from `work` (chooseThreads), else onnxruntime's own choice (all cores). */
  threads?: number;
  /**
   * Multiply-accumulates of one run (per-sample work x batch, e.g. unetConvMacs x batch): with `threads` unset,
   * small runs get fewer threads (chooseThreads), since waking threads costs more than they save there.
   */
  work?: { macsPerRun: number };
  optimization?: OptimizationLevel;
  /** Where onnxruntime writes the graph after its optimizations (for inspection). */
  optimizedModelPath?: string;
  executionProviders?: string[];
  /** Where it runs (default cpu; see devices.ts). A GPU device's first run counts which nodes fell back to the CPU. */
  device?: Device;
  /** What the session is for, named in the placement record (placement.ts). */
  label?: string;
}

export type Session = ort.InferenceSession;

export async function createSession(modelBytes: Uint8Array, options: CreateSessionOptions = {}): Promise<Session> {
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: options.optimization ?? 'all',
    executionProviders: options.executionProviders ?? [executionProvider(options.device ?? 'cpu').ep],
  };
  const device = options.device ?? 'cpu';
  const profile = device === 'cpu' ? undefined : profilingOptions();
  if (profile) Object.assign(sessionOptions, profile.options);
  const threads = options.threads ?? (options.work ? chooseThreads(options.work.macsPerRun) : undefined);
  if (threads !== undefined) {
    if (!Number.isInteger(threads) || threads < 1) {
      throw new Error(`threads must be a positive integer, got ${threads}`);
    }
    sessionOptions.intraOpNumThreads = threads;
    sessionOptions.interOpNumThreads = 1;
  }
  if (options.optimizedModelPath) sessionOptions.optimizedModelFilePath = options.optimizedModelPath;
  const session = await ort.InferenceSession.create(modelBytes, sessionOptions);
  if (profile) trackPlacement(session, profile.dir, device, options.label);
  return session;
}

/**
 * Work one more intra-op thread needs before it pays. mnist32 at batch 1 ran faster on 1 thread than on 2 on a
 * quiet 2-core Xeon: waking a thread for a few microseconds of work per op costs more than it saves. The CIFAR-10
 * U-Net does many times that work per sample, so it keeps every core.
 * NOTE: on a machine already busy with other work extra threads lose at every size (bench/fp32-forward); pass
 * `threads` there.
 */
export const MACS_PER_THREAD = 1e9;

/** Intra-op threads for a run of `macsPerRun` multiply-accumulates: one per MACS_PER_THREAD, 1 to `cores`. */
export function chooseThreads(macsPerRun: number, cores = availableParallelism()): number {
  if (!Number.isFinite(macsPerRun) || macsPerRun <= 0) return 1;
  return Math.max(1, Math.min(cores, Math.floor(macsPerRun / MACS_PER_THREAD)));
}

/** Runs `use` with a fresh session and always releases it. */
export async function withSession<T>(
  modelBytes: Uint8Array,
  options: CreateSessionOptions,
  use: (session: Session) => Promise<T>,
): Promise<T> {
  const session = await createSession(modelBytes, options);
  try {
    return await use(session);
  } finally {
    await session.release();
  }
}

/** float32 tensor feed helper. */
export function float32Tensor(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

export interface DenoiserOptions {
  /** [C, H, W] of x; default: read from the session's `x` input metadata. */
  shape?: [number, number, number];
  /** Output channels: C, or 2C with learn_sigma. Default: read from the `out` metadata, else C (2C with learnSigma). */
  learnSigma?: boolean;
  /** Class labels for class-conditional models (input `y`): one per sample of the batch. */
  labels?: (batch: number) => BigInt64Array;
}

/**
 * The U-Net session (inputs `x`, `t`[, `y`], output `out`) as a Denoiser. The returned array is the full output
 * [batch, outChannels, H, W]; with learn_sigma that is epsilon then the variance values.
 */
export function sessionDenoiser(session: Session, options: DenoiserOptions = {}): Denoiser {
  const [c, h, w] = options.shape ?? inputShape(session);
  const perSample = c * h * w;
  const outChannels = outputChannels(session) ?? (options.learnSigma ? 2 * c : c);
  const needsLabels = session.inputNames.includes('y');
  if (needsLabels && !options.labels) throw new Error('class-conditional model: sessionDenoiser needs labels');
  return async (x, t, batch) => {
    if (x.length !== batch * perSample) {
      throw new Error(`denoiser: x has ${x.length} values, expected ${batch}x${c}x${h}x${w}`);
    }
    if (t.length !== batch) throw new Error(`denoiser: t has ${t.length} values for batch ${batch}`);
    const feeds: Record<string, ort.Tensor> = {
      x: new ort.Tensor('float32', x, [batch, c, h, w]),
      t: new ort.Tensor('float32', t, [batch]),
    };
    if (needsLabels && options.labels) feeds.y = new ort.Tensor('int64', options.labels(batch), [batch]);
    const result = await session.run(feeds);
    const out = result.out;
    if (out?.type !== 'float32') throw new Error('denoiser: session has no float32 output `out`');
    const data = out.data as Float32Array;
    if (data.length !== batch * outChannels * h * w) {
      throw new Error(`denoiser: out has ${data.length} values, expected ${batch}x${outChannels}x${h}x${w}`);
    }
    return data;
  };
}

function inputShape(session: Session): [number, number, number] {
  const meta = session.inputMetadata.find((m) => m.name === 'x');
  const dims = meta?.isTensor ? meta.shape.slice(1) : [];
  if (dims.length !== 3 || dims.some((d) => typeof d !== 'number')) {
    throw new Error('denoiser: cannot read [C,H,W] from input x; pass options.shape');
  }
  return dims as [number, number, number];
}

function outputChannels(session: Session): number | undefined {
  const meta = session.outputMetadata.find((m) => m.name === 'out');
  const c = meta?.isTensor ? meta.shape[1] : undefined;
  return typeof c === 'number' ? c : undefined;
}
