/**
 * The browser assets on Node: `sampler.js` bundled with esbuild from browser/sampler.ts on first request (kept in
 * memory), and onnxruntime-web's browser bundle and wasm files from node_modules, by a fixed file-name pattern.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserAssets } from '../routes/browser.ts';

const ORT_FILE = /^ort[\w.-]*\.(mjs|wasm)$/;
const TYPES: Record<string, string> = { mjs: 'text/javascript', js: 'text/javascript', wasm: 'application/wasm' };

function ortDist(): string {
  // onnxruntime-web's package "exports" hide its package.json: resolve its main entry, which lives in dist/.
  return dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
}

export async function bundleSampler(): Promise<Uint8Array> {
  const esbuild = await import('esbuild');
  const entry = join(dirname(fileURLToPath(import.meta.url)), 'sampler.ts');
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    // onnxruntime-web is loaded at run time from /browser/ort/ (its wasm files sit beside it there).
    external: ['/browser/ort/*'],
    logLevel: 'silent',
  });
  return result.outputFiles[0].contents;
}

export function nodeBrowserAssets(): BrowserAssets {
  let sampler: Promise<Uint8Array> | undefined;
  return {
    async get(path) {
      if (path === 'sampler.js') {
        sampler ??= bundleSampler();
        sampler.catch(() => {
          sampler = undefined;
        });
        return { body: await sampler, type: TYPES.js };
      }
      const file = path.startsWith('ort/') ? path.slice(4) : '';
      if (!ORT_FILE.test(file)) return undefined;
      const body = await readFile(join(ortDist(), file)).catch(() => undefined);
      return (
        body && { body: new Uint8Array(body), type: TYPES[file.split('.').pop() ?? ''] ?? 'application/octet-stream' }
      );
    },
  };
}
