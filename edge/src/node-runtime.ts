import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppDeps } from './app.ts';
import { configFromEnv } from './config.ts';
import { ortWebSessions } from './engine/ort-web.ts';
import { folderSource } from './sources/folder.ts';
import { versionedSource } from './sources/object-store.ts';
import { parseS3Url, s3ClientFromEnv, s3Store } from './sources/s3.ts';
import type { ArtifactSource } from './sources/source.ts';

/** The embedded default store: `artifacts/` at the repository root. */
export const defaultArtifactsDir = fileURLToPath(new URL('../../artifacts/', import.meta.url));

/** The same ORT wasm binary wrangler bundles, compiled here (Node may compile WebAssembly at run time). */
export async function compileOrtWasm(): Promise<WebAssembly.Module> {
  const path = createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm');
  return WebAssembly.compile(await readFile(path));
}

/** `QDM_ARTIFACTS`: a folder (default `artifacts/`) or `s3://bucket/prefix` (standard AWS environment). */
export function sourceFromEnv(env: Record<string, string | undefined>): ArtifactSource {
  const where = env.QDM_ARTIFACTS || defaultArtifactsDir;
  // NOTE: `npm run -w edge` runs in edge/; a relative folder means relative to where the user typed the command.
  if (!where.startsWith('s3://')) return folderSource(resolve(env.INIT_CWD || process.cwd(), where));
  const s3 = parseS3Url(where);
  if (!s3) throw new Error(`QDM_ARTIFACTS: cannot parse ${where} (expected s3://bucket/prefix)`);
  return versionedSource(s3Store(s3ClientFromEnv(env), s3.bucket), s3.prefix);
}

export function nodeDeps(env: Record<string, string | undefined>): AppDeps {
  return { source: sourceFromEnv(env), sessions: ortWebSessions(compileOrtWasm), config: configFromEnv(env) };
}
