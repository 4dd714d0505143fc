import wasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
import { expect, it } from 'vitest';
import { ortWebSessions } from '../../src/engine/ort-web.ts';
import { tinyDenoiserOnnx } from '../fixtures/tiny-onnx.ts';

it('runs ORT-web inside workerd', async () => {
  const factory = ortWebSessions(async () => wasm);
  const s = await factory(tinyDenoiserOnnx({ channels: 1, outChannels: 2, imageSize: 4 }));
  const out = await s.run(new Float32Array(16).fill(1), [1, 1, 4, 4], Float32Array.of(500));
  expect(out.length).toBe(32);
  console.log(Array.from(out.slice(0, 4)));
});
