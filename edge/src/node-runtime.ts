import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppDeps } from './app.ts';
import { configFromEnv } from './config.ts';
import { checkNativeEp, NATIVE_EPS, ortNodeSessions } from './engine/ort-node.ts';
import { ortWebThreadSessions } from './engine/ort-web-thread.ts';
import type { SessionFactory } from './engine/session.ts';
import { folderSource } from './sources/folder.ts';
import { versionedSource } from './sources/object-store.ts';
import { parseS3Url, s3ClientFromEnv, s3Store } from './sources/s3.ts';
import type { ArtifactSource } from './sources/source.ts';

/** The embedded default store: `artifacts/` at the repository root. */
export const defaultArtifactsDir = fileURLToPath(new URL('../../artifacts/', import.meta.url));

export { compileOrtWasm } from '@qdm/edge-probe/wasm-node';
/** The pieces a Node program (or bench) assembles an app from: `@qdm/edge/node`. */
export { configFromEnv, defaultConfig } from './config.ts';
export { ortNodeSessions } from './engine/ort-node.ts';
export { folderSource } from './sources/folder.ts';

/** `QDM_ARTIFACTS`: a folder (default `artifacts/`) or `s3://bucket/prefix` (standard AWS environment). */
export function sourceFromEnv(env: Record<string, string | undefined>): ArtifactSource {
  const where = env.QDM_ARTIFACTS || defaultArtifactsDir;
  // NOTE: `npm run -w edge` runs in edge/; a relative folder means relative to where the user typed the command.
  if (!where.startsWith('s3://')) return folderSource(resolve(env.INIT_CWD || process.cwd(), where));
  const s3 = parseS3Url(where);
  if (!s3) throw new Error(`QDM_ARTIFACTS: cannot parse ${where} (expected s3://bucket/prefix)`);
  return versionedSource(s3Store(s3ClientFromEnv(env), s3.bucket), s3.prefix);
}

const RUNTIMES = ['native', 'wasm'] as const;

function choice<T extends string>(
  env: Record<string, string | undefined>,
  key: string,
  choices: readonly T[],
  fallback: T,
): T {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  if ((choices as readonly string[]).includes(raw)) return raw as T;
  throw new Error(`${key} must be one of ${choices.join(', ')}, got "${raw}"`);
}

/**
 * `QDM_RUNTIME`: `native` (default: onnxruntime-node with `QDM_THREADS` intra-op threads, default all cores, on
 * `QDM_EP` cpu|webgpu|cuda) or `wasm` (onnxruntime-web, 1 thread: exactly what a Worker runs).
 */
export async function sessionsFromEnv(env: Record<string, string | undefined>): Promise<SessionFactory> {
  const runtime = choice(env, 'QDM_RUNTIME', RUNTIMES, 'native');
  if (runtime === 'wasm') {
    for (const key of ['QDM_EP', 'QDM_THREADS']) {
      if (env[key]) throw new Error(`${key} applies to QDM_RUNTIME=native only (wasm runs 1 thread on the CPU)`);
    }
    return ortWebThreadSessions();
  }
  const ep = choice(env, 'QDM_EP', NATIVE_EPS, 'cpu');
  const threads = env.QDM_THREADS ? Number(env.QDM_THREADS) : availableParallelism();
  if (!Number.isSafeInteger(threads) || threads < 1) {
    throw new Error(`QDM_THREADS must be a positive integer, got "${env.QDM_THREADS}"`);
  }
  await checkNativeEp(ep);
  return ortNodeSessions(ep, threads);
}

export async function nodeDeps(env: Record<string, string | undefined>): Promise<AppDeps> {
  const sessions = await sessionsFromEnv(env);
  return { source: sourceFromEnv(env), sessions, config: configFromEnv(env) };
}
