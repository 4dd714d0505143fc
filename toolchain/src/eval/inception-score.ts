/**
 * Inception Score from class logits: IS = exp(E_x KL(p(y|x) || p(y))), p(y) the mean of p(y|x) over the split.
 * With K splits the images are cut at floor(i N / K) (improved-gan's convention) and the result is the mean and the
 * population standard deviation (np.std) of the K scores. The ADM evaluator cuts fixed 5000-image splits instead,
 * which for its 50,000 samples is K = 10.
 */
import type { FeatureMatrix } from './moments.ts';

export interface InceptionScore {
  mean: number;
  std: number;
  /** The score of every split, in order. */
  scores: number[];
}

/** The Inception Score of `logits` ([N, classes], pre-softmax) over `splits` equal parts (default: the whole set). */
export function inceptionScore(logits: FeatureMatrix, splits = 1): InceptionScore {
  const { rows, dim } = logits;
  if (logits.data.length !== rows * dim) throw new Error(`inception score: expected ${rows}x${dim} logits`);
  if (!Number.isInteger(splits) || splits < 1 || splits > rows) {
    throw new Error(`inception score: splits must be an integer in [1, ${rows}], got ${splits}`);
  }
  const logProbs = logSoftmaxRows(logits);
  const scores: number[] = [];
  for (let s = 0; s < splits; s++) {
    const start = Math.floor((s * rows) / splits);
    const end = Math.floor(((s + 1) * rows) / splits);
    scores.push(splitScore(logProbs, dim, start, end));
  }
  const mean = scores.reduce((a, b) => a + b, 0) / splits;
  const variance = scores.reduce((a, b) => a + (b - mean) ** 2, 0) / splits;
  return { mean, std: Math.sqrt(variance), scores };
}

/** log p(y|x) per row, in float64, with the max subtracted so exp never overflows. */
function logSoftmaxRows({ rows, dim, data }: FeatureMatrix): Float64Array {
  const out = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    let max = -Infinity;
    for (let c = 0; c < dim; c++) max = Math.max(max, data[base + c]);
    if (!Number.isFinite(max)) throw new Error(`inception score: non-finite logits in row ${r}`);
    let sum = 0;
    for (let c = 0; c < dim; c++) sum += Math.exp(data[base + c] - max);
    const logSum = Math.log(sum);
    for (let c = 0; c < dim; c++) out[base + c] = data[base + c] - max - logSum;
  }
  return out;
}

function splitScore(logProbs: Float64Array, dim: number, start: number, end: number): number {
  const n = end - start;
  const marginal = new Float64Array(dim);
  for (let r = start; r < end; r++) for (let c = 0; c < dim; c++) marginal[c] += Math.exp(logProbs[r * dim + c]);
  const logMarginal = marginal.map((m) => Math.log(m / n));
  let kl = 0;
  for (let r = start; r < end; r++) {
    for (let c = 0; c < dim; c++) {
      const lp = logProbs[r * dim + c];
      const p = Math.exp(lp);
      // NOTE: p log p -> 0 as p -> 0; skipping p == 0 avoids 0 * -Infinity where exp underflows.
      if (p > 0) kl += p * (lp - logMarginal[c]);
    }
  }
  return Math.exp(kl / n);
}
