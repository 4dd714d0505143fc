/** Limits and defaults of one deployment, read from environment variables (Node) or `[vars]` (wrangler.toml). */
export interface EdgeConfig {
  /** Artifact served when a request names none; unset = the first artifact the source lists. */
  defaultModel?: string;
  defaultVariant: string;
  /** Most samples per request. */
  maxBatch: number;
  /** Most denoiser steps per request. */
  maxSteps: number;
  /** Most denoiser evaluations (n x steps) per request. */
  workBudget: number;
  /** How long a read manifest is trusted before the source is asked again. */
  manifestTtlMs: number;
  /** Largest variant file this deployment loads (bytes); larger ones are refused with 422. */
  maxModelBytes: number;
  /** Loaded variants' bytes above which least recently used sessions are released. */
  maxLoadedBytes: number;
  /**
   * The WASM runtime heap a request may need (bytes), from the build-time measurement in each variant's edge graph:
   * a larger n is refused with 422 before anything is loaded. A Worker isolate has 128 MB for heap and JS together.
   */
  memoryBudget: number;
  /** Expected wait (queued denoiser steps x measured step time) above which a new request gets 503 `overloaded`. */
  maxQueueMs: number;
  /** Most samples one model call joins from concurrent requests of the same variant (1: one call at a time). */
  stepBatch: number;
}

export const defaultConfig: EdgeConfig = {
  defaultVariant: 'int8',
  maxBatch: 16,
  maxSteps: 250,
  workBudget: 400,
  manifestTtlMs: 30_000,
  maxModelBytes: Number.POSITIVE_INFINITY,
  maxLoadedBytes: Number.POSITIVE_INFINITY,
  memoryBudget: Number.POSITIVE_INFINITY,
  maxQueueMs: 30_000,
  // Chosen with bench/edge-load.ts `--step-batch` (docs/results.md#edge-load): joining concurrent requests' steps
  // never lost throughput, and won on a busy machine; 8, not 16: the same rate, half the activations per call.
  stepBatch: 8,
};

type Env = Record<string, unknown>;

function positiveInt(env: Env, key: string, fallback: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${key} must be a positive integer, got ${raw}`);
  return value;
}

function text(env: Env, key: string): string | undefined {
  const raw = env[key];
  return typeof raw === 'string' && raw !== '' ? raw : undefined;
}

export function configFromEnv(env: Env): EdgeConfig {
  return {
    defaultModel: text(env, 'QDM_DEFAULT_MODEL'),
    defaultVariant: text(env, 'QDM_DEFAULT_VARIANT') ?? defaultConfig.defaultVariant,
    maxBatch: positiveInt(env, 'QDM_MAX_N', defaultConfig.maxBatch),
    maxSteps: positiveInt(env, 'QDM_MAX_STEPS', defaultConfig.maxSteps),
    workBudget: positiveInt(env, 'QDM_WORK_BUDGET', defaultConfig.workBudget),
    manifestTtlMs: positiveInt(env, 'QDM_MANIFEST_TTL_MS', defaultConfig.manifestTtlMs),
    maxModelBytes: positiveInt(env, 'QDM_MAX_MODEL_BYTES', defaultConfig.maxModelBytes),
    maxLoadedBytes: positiveInt(env, 'QDM_MAX_LOADED_BYTES', defaultConfig.maxLoadedBytes),
    memoryBudget: positiveInt(env, 'QDM_MEMORY_BUDGET', defaultConfig.memoryBudget),
    maxQueueMs: positiveInt(env, 'QDM_MAX_QUEUE_MS', defaultConfig.maxQueueMs),
    stepBatch: positiveInt(env, 'QDM_STEP_BATCH', defaultConfig.stepBatch),
  };
}
