import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

/** The same ORT wasm binary wrangler bundles, compiled here (Node may compile WebAssembly at run time). */
export async function compileOrtWasm(): Promise<WebAssembly.Module> {
  const path = createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm');
  return WebAssembly.compile(await readFile(path));
}
