/** Small helpers the benches share. */
import type { Tensor } from '@qdm/shared';

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Deterministic small random weights for timing (values do not matter, shapes do). */
export function randomWeights(name: string, shape: number[]): Tensor<Float32Array> {
  let n = 1;
  for (const d of shape) n *= d;
  let state = 2166136261;
  for (const ch of name) state = Math.imul(state ^ ch.charCodeAt(0), 16777619);
  const data = new Float32Array(n);
  const fanIn = shape.length > 1 ? n / shape[0] : 1;
  const scale = 1 / Math.sqrt(fanIn);
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = ((state / 4294967296) * 2 - 1) * scale;
  }
  // GroupNorm gains near 1 keep activations in a realistic range.
  if (/norm.*\.weight$|in_layers\.0\.weight$|out_layers\.0\.weight$|^out\.0\.weight$/.test(name)) data.fill(1);
  return { dtype: 'float32', shape, data };
}
