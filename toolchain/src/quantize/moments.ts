/**
 * Input second moments of a linear or conv layer, the statistics that turn layer-wise reconstruction into a
 * quadratic problem: H = E[x x^T] over the layer's input vectors (rows of a linear input, im2col columns of a
 * conv), and for QDrop-style objectives also E[x~ x~^T] and the cross moment E[x x~^T] with the quantized
 * input x~. Columns are subsampled at a fixed seeded rate (each column kept with the same probability, so the
 * estimate stays unbiased across time steps), buffered in float32 (the inputs' own precision), and folded into
 * float64 sums with one lower-triangle gram per chunk.
 */
import type { Matrix32, MatrixKernels, Product } from './kernels.ts';
import { type Matrix, matrix } from './matrix.ts';

/** groups = 1, dilation = 1, NCHW input ([N, C, L] for conv1d, treated as H = 1). */
export interface ConvGeometry {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number]; // symmetric (top = bottom, left = right)
}

export type LayerInput = { kind: 'linear'; features: number } | { kind: 'conv'; channels: number; conv: ConvGeometry };

export interface MomentOptions {
  /** Probability of keeping each input vector (default 1). See `columnRate` to derive it from a budget. */
  rate?: number;
  seed?: number;
  /** Also accumulate E[x~ x~^T] and E[x x~^T]; `add` then needs the quantized input. */
  cross?: boolean;
  /** Vectors buffered per gemm (default 2048; the buffer is chunk x dim float32, freed by `finish`). */
  chunk?: number;
}

export interface Moments {
  count: number; // vectors accumulated
  h: Matrix; // E[x x^T]
  hq?: Matrix; // E[x~ x~^T]
  cross?: Matrix; // E[x x~^T]  (cross[i][j] = E[x_i x~_j])
}

/** Rate that keeps about `budget` of `expected` vectors. */
export function columnRate(budget: number, expected: number): number {
  return expected > 0 ? Math.min(1, budget / expected) : 1;
}

export function inputDim(input: LayerInput): number {
  return input.kind === 'linear' ? input.features : input.channels * input.conv.kernel[0] * input.conv.kernel[1];
}

export class MomentAccumulator {
  readonly input: LayerInput;
  readonly dim: number;
  count = 0;
  private readonly kernels: MatrixKernels;
  private readonly rate: number;
  private readonly cross: boolean;
  private readonly chunk: number;
  private readonly random: () => number;
  /** Sampled vectors as the COLUMNS of a [dim, chunk] float32 buffer: every block of rows is a contiguous view. */
  private buf: Float32Array | null = null;
  private bufQ: Float32Array | null = null;
  private filled = 0;
  private sum: Matrix;
  private sumQ: Matrix | null;
  private sumCross: Matrix | null;

  constructor(input: LayerInput, kernels: MatrixKernels, opts: MomentOptions = {}) {
    this.input = input;
    this.dim = inputDim(input);
    this.kernels = kernels;
    this.rate = opts.rate ?? 1;
    if (!(this.rate > 0 && this.rate <= 1)) throw new Error(`moment sampling rate must be in (0, 1], got ${this.rate}`);
    this.cross = opts.cross ?? false;
    this.chunk = opts.chunk ?? DEFAULT_CHUNK;
    this.random = splitmix32(opts.seed ?? 0);
    this.sum = matrix(this.dim, this.dim);
    this.sumQ = this.cross ? matrix(this.dim, this.dim) : null;
    this.sumCross = this.cross ? matrix(this.dim, this.dim) : null;
  }

  /**
   * Add one batch of layer inputs: linear [..., features], conv [N, C, H, W] or [N, C, L]. With `cross`, `xq`
   * is the same batch as the quantized layer would see it (same shape); both use the same sampled vectors.
   */
  async add(x: ArrayLike<number>, shape: readonly number[], xq?: ArrayLike<number>): Promise<void> {
    if (this.cross !== (xq !== undefined)) throw new Error('moments: pass xq exactly when cross moments are on');
    const source = vectorSource(this.input, shape, x.length);
    this.buf ??= new Float32Array(this.dim * this.chunk);
    if (xq) this.bufQ ??= new Float32Array(this.dim * this.chunk);
    for (const v of this.sample(source.count)) {
      source.write(x, v, this.buf, this.filled, this.chunk);
      if (xq && this.bufQ) source.write(xq, v, this.bufQ, this.filled, this.chunk);
      this.filled++;
      if (this.filled === this.chunk) await this.flush();
    }
  }

  /** Means over everything added (symmetrized). The accumulator can keep going afterwards. */
  async finish(): Promise<Moments> {
    await this.flush();
    this.buf = null;
    this.bufQ = null;
    if (this.count === 0) throw new Error('moments: no input vectors were sampled');
    const scale = 1 / this.count;
    const out: Moments = { count: this.count, h: symmetrizedMean(this.sum, scale) };
    if (this.sumQ && this.sumCross) {
      out.hq = symmetrizedMean(this.sumQ, scale);
      out.cross = matrix(
        this.dim,
        this.dim,
        this.sumCross.data.map((v) => v * scale),
      );
    }
    return out;
  }

  /** Indices of the kept vectors of a batch of `n`: a seeded binomial count, then a partial shuffle. */
  private sample(n: number): Int32Array {
    let k = 0;
    if (this.rate === 1) k = n;
    else for (let i = 0; i < n; i++) if (this.random() < this.rate) k++;
    const idx = new Int32Array(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    if (k === n) return idx;
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(this.random() * (n - i));
      const t = idx[i];
      idx[i] = idx[j];
      idx[j] = t;
    }
    return idx.subarray(0, k).sort();
  }

  private async flush(): Promise<void> {
    if (this.filled === 0 || !this.buf) return;
    const x = this.columns(this.buf);
    await addGramLower32(this.sum, x, this.kernels);
    if (this.bufQ && this.sumQ && this.sumCross) {
      const xq = this.columns(this.bufQ);
      await addGramLower32(this.sumQ, xq, this.kernels);
      addInto(this.sumCross, await this.kernels.gemm32(x, xq, { transB: true }));
    }
    this.count += this.filled;
    this.filled = 0;
  }

  /** The filled columns as a [dim, filled] matrix (the buffer itself when full, else a compact copy). */
  private columns(buf: Float32Array): Matrix32 {
    const { dim, chunk, filled } = this;
    if (filled === chunk) return { rows: dim, cols: chunk, data: buf };
    const out = new Float32Array(dim * filled);
    for (let i = 0; i < dim; i++) out.set(buf.subarray(i * chunk, i * chunk + filled), i * filled);
    return { rows: dim, cols: filled, data: out };
  }
}

/**
 * Vectors per gemm. NOTE: 2048 x 4608 float32 (38 MB) for the widest CIFAR-10 layer; larger chunks only save
 * the float64 accumulation (dim^2/2 adds per chunk), smaller ones make the gemms less efficient.
 */
const DEFAULT_CHUNK = 2048;
/** Row blocks of the lower-triangle gram (one gemm per block pair). */
const GRAM_BLOCK = 768;

/**
 * acc += X X^T on the lower block triangle (diagonal blocks in full), X = [dim, columns] float32: blocks of rows
 * are contiguous views, so no operand is copied. NOTE: the product is symmetric, so the gemms below the diagonal
 * do ~(b+1)/(2b) of a full product's flops.
 */
async function addGramLower32(acc: Matrix, x: Matrix32, kernels: MatrixKernels): Promise<void> {
  const n = x.rows;
  const k = x.cols;
  const rows = (r0: number): Matrix32 => {
    const r1 = Math.min(r0 + GRAM_BLOCK, n);
    return { rows: r1 - r0, cols: k, data: x.data.subarray(r0 * k, r1 * k) };
  };
  for (let i = 0; i < n; i += GRAM_BLOCK) {
    const xi = rows(i);
    for (let j = 0; j <= i; j += GRAM_BLOCK) {
      const p = await kernels.gemm32(xi, j === i ? xi : rows(j), { transB: true });
      for (let r = 0; r < p.rows; r++) {
        const base = (i + r) * n + j;
        const src = r * p.cols;
        for (let c = 0; c < p.cols; c++) acc.data[base + c] += p.data[src + c];
      }
    }
  }
}

interface VectorSource {
  count: number;
  /** Write input vector `v` of `x` into column `column` of `out` (row stride `stride`). */
  write(x: ArrayLike<number>, v: number, out: Float32Array, column: number, stride: number): void;
}

function vectorSource(input: LayerInput, shape: readonly number[], length: number): VectorSource {
  let total = 1;
  for (const d of shape) total *= d;
  if (total !== length) throw new Error(`moments: shape [${shape.join(', ')}] does not match ${length} values`);
  if (input.kind === 'linear') {
    const f = input.features;
    if (shape[shape.length - 1] !== f) throw new Error(`moments: linear input must end in ${f}, got [${shape}]`);
    return {
      count: length / f,
      write: (x, v, out, column, stride) => {
        for (let i = 0; i < f; i++) out[column + i * stride] = x[v * f + i];
      },
    };
  }
  return im2colSource(input.channels, input.conv, shape);
}

/** Convolution input columns in weight order (c, ky, kx), zero outside the padded image. */
function im2colSource(channels: number, conv: ConvGeometry, shape: readonly number[]): VectorSource {
  if (shape.length !== 3 && shape.length !== 4) throw new Error(`moments: conv input must be NCHW or NCL`);
  const [n, c] = shape;
  const h = shape.length === 4 ? shape[2] : 1;
  const w = shape[shape.length - 1];
  if (c !== channels) throw new Error(`moments: conv expects ${channels} channels, got ${c}`);
  const [kh, kw] = conv.kernel;
  const [sh, sw] = conv.stride;
  const [ph, pw] = conv.padding;
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  const perImage = oh * ow;
  return {
    count: n * perImage,
    write: (x, v, out, column, stride) => {
      const img = Math.floor(v / perImage);
      const pos = v - img * perImage;
      const y0 = Math.floor(pos / ow) * sh - ph;
      const x0 = (pos % ow) * sw - pw;
      let o = column;
      for (let ci = 0; ci < c; ci++) {
        const plane = (img * c + ci) * h * w;
        for (let i = 0; i < kh; i++) {
          const y = y0 + i;
          const inside = y >= 0 && y < h;
          for (let j = 0; j < kw; j++) {
            const xx = x0 + j;
            out[o] = inside && xx >= 0 && xx < w ? x[plane + y * w + xx] : 0;
            o += stride;
          }
        }
      }
    },
  };
}

function addInto(acc: Matrix, m: Product): void {
  for (let i = 0; i < acc.data.length; i++) acc.data[i] += m.data[i];
}

/** The mean from a sum whose lower triangle holds the data (see addGramLower32), mirrored to a full matrix. */
function symmetrizedMean(sum: Matrix, scale: number): Matrix {
  const n = sum.rows;
  const out = matrix(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = sum.data[i * n + j] * scale;
      out.data[i * n + j] = v;
      out.data[j * n + i] = v;
    }
  }
  return out;
}

/**
 * QDrop's mixed input: each element is the float value with probability `floatProb`, the quantized one
 * otherwise, independently. Returns G = E[x_mix x_mix^T] and C = E[x x_mix^T] in closed form from the three
 * moments (off-diagonal E[m_i m_j] = f^2, diagonal E[m_i] = f).
 */
export function qdropMoments(m: Moments, floatProb = 0.5): { g: Matrix; cross: Matrix } {
  if (!m.hq || !m.cross) throw new Error('qdropMoments needs moments accumulated with cross: true');
  const n = m.h.rows;
  const f = floatProb;
  const g = matrix(n, n);
  const cross = matrix(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const k = i * n + j;
      const hxx = m.h.data[k];
      const hqq = m.hq.data[k];
      g.data[k] =
        i === j
          ? f * hxx + (1 - f) * hqq
          : f * f * hxx + f * (1 - f) * (m.cross.data[k] + m.cross.data[j * n + i]) + (1 - f) * (1 - f) * hqq;
      cross.data[k] = f * hxx + (1 - f) * m.cross.data[k];
    }
  }
  return { g, cross };
}

/** A small seeded generator (splitmix32): deterministic sampling without Math.random. */
function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
}
