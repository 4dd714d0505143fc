/**
 * The toy analytic denoiser of fixtures/make_reference.py, so samplers can be compared with improved-diffusion
 * value for value: eps = tanh(0.7 x + 0.001 t cos(c+1) + 0.05 sin(p+1)), v = tanh(0.5 x - 0.0004 t + 0.1 (c+1)).
 */
import type { Denoiser } from '../src/denoiser.ts';

export function toyDenoiser(channels: number, pixels: number, learnSigma: boolean, seen: number[] = []): Denoiser {
  const outChannels = learnSigma ? 2 * channels : channels;
  return async (x, t, batch) => {
    seen.push(t[0]);
    const out = new Float32Array(batch * outChannels * pixels);
    for (let b = 0; b < batch; b++) {
      for (let c = 0; c < channels; c++) {
        const row = (b * channels + c) * pixels;
        for (let p = 0; p < pixels; p++) {
          const xv = x[row + p];
          out[(b * outChannels + c) * pixels + p] = Math.tanh(
            0.7 * xv + 0.001 * t[b] * Math.cos(c + 1) + 0.05 * Math.sin(p + 1),
          );
          if (learnSigma) {
            out[(b * outChannels + channels + c) * pixels + p] = Math.tanh(0.5 * xv - 0.0004 * t[b] + 0.1 * (c + 1));
          }
        }
      }
    }
    return out;
  };
}
