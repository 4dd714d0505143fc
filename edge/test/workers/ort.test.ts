import { ortWebSessions } from '@qdm/edge-probe/ort-web';
import wasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
import { expect, it } from 'vitest';
import { tinyDenoiserForward, tinyDenoiserOnnx } from '../fixtures/tiny-onnx.ts';

it('runs onnxruntime-web (WASM, imported as a module) inside workerd', async () => {
  const graph = { channels: 2, outChannels: 3, imageSize: 5, seed: 9 };
  const session = await ortWebSessions(async () => wasm)(tinyDenoiserOnnx(graph));
  const x = Float32Array.from({ length: 2 * 2 * 25 }, (_, i) => Math.sin(i));
  const t = Float32Array.of(10, 900);
  const out = await session.run(x, [2, 2, 5, 5], t);
  const expected = await tinyDenoiserForward(graph)(x, t, 2);
  expect(out.length).toBe(expected.length);
  expect(Math.max(...out.map((v, i) => Math.abs(v - expected[i])))).toBeLessThan(1e-5);
});
