/**
 * Streaming float64 mean and covariance of feature vectors (the Gaussian statistics FID compares).
 * The covariance is the unbiased one, divided by N-1, as `np.cov(x, rowvar=False)` computes it.
 */

/** N feature vectors of one dimension, row-major [rows, dim]. */
export interface FeatureMatrix {
  rows: number;
  dim: number;
  data: Float32Array | Float64Array;
}

/** Mean and covariance (row-major [dim, dim]) of `count` feature vectors. */
export interface GaussianStats {
  dim: number;
  count: number;
  mean: Float64Array;
  cov: Float64Array;
}

const CHUNK_ROWS = 256;
const TILE = 256; // columns of the Gram tile: CHUNK_ROWS x TILE float64 (512 KB) stays in L2

/**
 * Accumulates batches of feature rows. Each chunk of up to 256 rows is centred on its own mean and its scatter
 * matrix merged into the running one (Chan, Golub and LeVeque's pairwise update), so no sum of squares of raw values
 * is ever formed.
 * NOTE: every row is first shifted by the first row seen: a feature that never changes (a dead ReLU unit, a border
 * pixel) then has exactly zero variance, which the Frechet distance relies on to drop it cleanly.
 */
export class MomentAccumulator {
  readonly dim: number;
  private count = 0;
  private shift: Float64Array | undefined;
  private readonly mean: Float64Array; // of the shifted rows
  private readonly scatter: Float64Array; // upper triangle of sum (x - mean)(x - mean)^T
  private readonly chunk: Float64Array;
  private chunkRows = 0;

  constructor(dim: number) {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`moments: dim must be a positive integer, got ${dim}`);
    this.dim = dim;
    this.mean = new Float64Array(dim);
    this.scatter = new Float64Array(dim * dim);
    this.chunk = new Float64Array(CHUNK_ROWS * dim);
  }

  /** Adds `rows` feature vectors (row-major [rows, dim]). */
  add(batch: Float32Array | Float64Array, rows: number): void {
    const dim = this.dim;
    if (batch.length !== rows * dim) throw new Error(`moments: batch has ${batch.length} values, not ${rows}x${dim}`);
    if (rows === 0) return;
    if (!this.shift) this.shift = Float64Array.from(batch.subarray(0, dim));
    const shift = this.shift;
    for (let r = 0; r < rows; r++) {
      const src = r * dim;
      const dst = this.chunkRows * dim;
      for (let j = 0; j < dim; j++) {
        const x = batch[src + j];
        if (!Number.isFinite(x)) throw new Error(`moments: non-finite feature at row ${r}, column ${j}`);
        this.chunk[dst + j] = x - shift[j];
      }
      if (++this.chunkRows === CHUNK_ROWS) this.mergeChunk();
    }
  }

  finish(): GaussianStats {
    this.mergeChunk();
    const { dim, count } = this;
    if (count < 2) throw new Error(`moments: need at least 2 feature vectors for a covariance, got ${count}`);
    const mean = new Float64Array(dim);
    for (let j = 0; j < dim; j++) mean[j] = this.shift![j] + this.mean[j];
    const cov = new Float64Array(dim * dim);
    for (let i = 0; i < dim; i++) {
      for (let j = i; j < dim; j++) {
        const c = this.scatter[i * dim + j] / (count - 1);
        cov[i * dim + j] = c;
        cov[j * dim + i] = c;
      }
    }
    return { dim, count, mean, cov };
  }

  private mergeChunk(): void {
    const rows = this.chunkRows;
    if (rows === 0) return;
    const dim = this.dim;
    const chunk = this.chunk.subarray(0, rows * dim);
    const chunkMean = new Float64Array(dim);
    for (let r = 0; r < rows; r++) for (let j = 0; j < dim; j++) chunkMean[j] += chunk[r * dim + j];
    for (let j = 0; j < dim; j++) chunkMean[j] /= rows;
    for (let r = 0; r < rows; r++) for (let j = 0; j < dim; j++) chunk[r * dim + j] -= chunkMean[j];
    addUpperGram(this.scatter, chunk, rows, dim);
    // Merge: scatter += delta delta^T * n_a n_b / (n_a + n_b), mean += delta * n_b / (n_a + n_b).
    const total = this.count + rows;
    const weight = (this.count * rows) / total;
    const delta = new Float64Array(dim);
    for (let j = 0; j < dim; j++) delta[j] = chunkMean[j] - this.mean[j];
    if (this.count > 0) {
      for (let i = 0; i < dim; i++) {
        const di = delta[i] * weight;
        if (di === 0) continue;
        const row = i * dim;
        for (let j = i; j < dim; j++) this.scatter[row + j] += di * delta[j];
      }
    }
    for (let j = 0; j < dim; j++) this.mean[j] += (delta[j] * rows) / total;
    this.count = total;
    this.chunkRows = 0;
  }
}

/** upper(g) += z^T z for the row-major chunk z [rows, dim] (entries below the diagonal are left stale). */
function addUpperGram(g: Float64Array, z: Float64Array, rows: number, dim: number): void {
  for (let j0 = 0; j0 < dim; j0 += TILE) {
    const j1 = Math.min(j0 + TILE, dim);
    let i = 0;
    for (; i + 1 < j1; i += 2) addGramRowPair(g, z, rows, dim, i, Math.max(i, j0), j1);
    if (i < j1) addGramRowPair(g, z, rows, dim, i, Math.max(i, j0), j1, true);
  }
}

// NOTE: a 2 x 4 register block like linalg.multiply: rows i and i+1 of g take four chunk rows per pass. Row i+1
// also gets its entry (i+1, i), below the diagonal, which nothing reads.
function addGramRowPair(
  g: Float64Array,
  z: Float64Array,
  rows: number,
  dim: number,
  i: number,
  start: number,
  end: number,
  single = false,
): void {
  const g0 = i * dim;
  const g1 = g0 + dim;
  let r = 0;
  for (; r + 3 < rows; r += 4) {
    const b0 = r * dim;
    const b1 = b0 + dim;
    const b2 = b1 + dim;
    const b3 = b2 + dim;
    const x0 = z[b0 + i];
    const x1 = z[b1 + i];
    const x2 = z[b2 + i];
    const x3 = z[b3 + i];
    if (single) {
      for (let j = start; j < end; j++) g[g0 + j] += x0 * z[b0 + j] + x1 * z[b1 + j] + x2 * z[b2 + j] + x3 * z[b3 + j];
      continue;
    }
    const y0 = z[b0 + i + 1];
    const y1 = z[b1 + i + 1];
    const y2 = z[b2 + i + 1];
    const y3 = z[b3 + i + 1];
    for (let j = start; j < end; j++) {
      const u0 = z[b0 + j];
      const u1 = z[b1 + j];
      const u2 = z[b2 + j];
      const u3 = z[b3 + j];
      g[g0 + j] += x0 * u0 + x1 * u1 + x2 * u2 + x3 * u3;
      g[g1 + j] += y0 * u0 + y1 * u1 + y2 * u2 + y3 * u3;
    }
  }
  for (; r < rows; r++) {
    const b0 = r * dim;
    const x0 = z[b0 + i];
    for (let j = start; j < end; j++) g[g0 + j] += x0 * z[b0 + j];
    if (single) continue;
    const y0 = z[b0 + i + 1];
    for (let j = start; j < end; j++) g[g1 + j] += y0 * z[b0 + j];
  }
}

/** Mean and covariance of a whole feature matrix. */
export function computeStats(features: FeatureMatrix): GaussianStats {
  const acc = new MomentAccumulator(features.dim);
  acc.add(features.data, features.rows);
  return acc.finish();
}
