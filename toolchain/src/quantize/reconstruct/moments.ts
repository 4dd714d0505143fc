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
  /**
   * The inputs arrive as the uint8 codes of a per-tensor quantizer (x~ = scale * (code - zeroPoint)): the moments
   * of x~ are then taken exactly with integer products (kernels' `integerGramTransA`), faster than float32
   * (bench/quant-math.ts).
   */
  codes?: { scale: number; zeroPoint: number };
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
  private readonly codes: { scale: number; zeroPoint: number } | undefined;
  /** Sampled vectors as the rows of a [chunk, dim] buffer (uint8 codes with `codes`). */
  private buf: Float32Array | Uint8Array | null = null;
  private bufQ: Float32Array | null = null;
  private filled = 0;
  private spent = false;
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
    this.codes = opts.codes;
    if (this.codes && this.cross) throw new Error('moments: cross moments need float inputs, not codes');
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
    if (this.spent) throw new Error('moments: add after finish');
    if (this.codes && !(x instanceof Uint8Array)) throw new Error('moments: codes must come as a Uint8Array');
    const source = vectorSource(this.input, shape, x.length);
    const size = this.dim * this.chunk;
    this.buf ??= this.codes ? new Uint8Array(size) : new Float32Array(size);
    if (xq) this.bufQ ??= new Float32Array(size);
    // Padding of a conv input is x~ = 0, i.e. the zero point's code.
    const pad = this.codes?.zeroPoint ?? 0;
    for (const v of this.sample(source.count)) {
      source.write(x, v, this.buf, this.filled * this.dim, pad);
      if (xq && this.bufQ) source.write(xq, v, this.bufQ, this.filled * this.dim, 0);
      this.filled++;
      if (this.filled === this.chunk) await this.flush();
    }
  }

  /** Means over everything added (symmetrized). The accumulator is spent afterwards: its sums became the means. */
  async finish(): Promise<Moments> {
    if (this.spent) throw new Error('moments: finish called twice');
    await this.flush();
    this.buf = null;
    this.bufQ = null;
    if (this.count === 0) throw new Error('moments: no input vectors were sampled');
    // NOTE: the sums become the means in place (no dim^2 copies); the accumulator starts over afterwards.
    const scale = (this.codes ? this.codes.scale ** 2 : 1) / this.count;
    const out: Moments = { count: this.count, h: symmetrizedMean(this.sum, scale) };
    if (this.sumQ && this.sumCross) {
      out.hq = symmetrizedMean(this.sumQ, scale);
      for (let i = 0; i < this.sumCross.data.length; i++) this.sumCross.data[i] *= scale;
      out.cross = this.sumCross;
    }
    this.spent = true;
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
    const used = this.filled * this.dim;
    if (this.buf instanceof Uint8Array) {
      const codes = { rows: this.filled, cols: this.dim, data: this.buf.subarray(0, used) };
      await addIntegerGramLower(this.sum, codes, this.codes!.zeroPoint, this.kernels);
      this.count += this.filled;
      this.filled = 0;
      return;
    }
    const x = { rows: this.filled, cols: this.dim, data: this.buf.subarray(0, used) };
    await addGramLower32(this.sum, x, this.kernels);
    if (this.bufQ && this.sumQ && this.sumCross) {
      const xq = { rows: this.filled, cols: this.dim, data: this.bufQ.subarray(0, this.filled * this.dim) };
      await addGramLower32(this.sumQ, xq, this.kernels);
      addProduct(this.sumCross, 0, 0, await this.kernels.gemm32(x, xq, { transA: true }));
    }
    this.count += this.filled;
    this.filled = 0;
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
 * acc += X^T X on the lower block triangle (diagonal blocks in full), X = [vectors, dim] float32. Column blocks
 * are copied out once per flush (one pass over the buffer) so that each block pair is one gemm. NOTE: the product
 * is symmetric, so the gemms below the diagonal do ~(b+1)/(2b) of a full product's flops.
 */
async function addGramLower32(acc: Matrix, x: Matrix32, kernels: MatrixKernels): Promise<void> {
  const n = x.cols;
  const starts: number[] = [];
  for (let c = 0; c < n; c += GRAM_BLOCK) starts.push(c);
  const parts =
    starts.length === 1
      ? [x]
      : starts.map((c0) => columnBlock(x, c0, Math.min(c0 + GRAM_BLOCK, n), new Float32Array(0)));
  for (let i = 0; i < parts.length; i++) {
    for (let j = 0; j <= i; j++) {
      addProduct(acc, starts[i], starts[j], await kernels.gemm32(parts[i], parts[j], { transA: true }));
    }
  }
}

/**
 * The same from uint8 codes: acc += (C - zp)^T (C - zp), exact. The right operand goes to onnxruntime as int8
 * (code - 128 with zero point zp - 128: the same differences), the form its fastest integer kernel takes.
 */
async function addIntegerGramLower(
  acc: Matrix,
  codes: { rows: number; cols: number; data: Uint8Array },
  zeroPoint: number,
  kernels: MatrixKernels,
): Promise<void> {
  const n = codes.cols;
  const starts: number[] = [];
  for (let c = 0; c < n; c += GRAM_BLOCK) starts.push(c);
  const left = starts.map((c0) =>
    starts.length === 1 ? codes : columnBlock(codes, c0, Math.min(c0 + GRAM_BLOCK, n), new Uint8Array(0)),
  );
  const right = left.map((l) => {
    const signed = new Int8Array(l.data.length);
    for (let i = 0; i < signed.length; i++) signed[i] = l.data[i] - 128;
    return { rows: l.rows, cols: l.cols, data: signed, zeroPoint: zeroPoint - 128 };
  });
  for (let i = 0; i < starts.length; i++) {
    for (let j = 0; j <= i; j++) {
      const p = await kernels.integerGramTransA({ ...left[i], zeroPoint }, right[j]);
      addRowsI32(acc.data, acc.cols, starts[i], starts[j], p.data, p.rows, p.cols);
    }
  }
}

function columnBlock<T extends Float32Array | Uint8Array>(
  x: { rows: number; cols: number; data: T },
  c0: number,
  c1: number,
  like: T,
): { rows: number; cols: number; data: T } {
  const out = new (like.constructor as new (n: number) => T)(x.rows * (c1 - c0));
  for (let r = 0; r < x.rows; r++) out.set(x.data.subarray(r * x.cols + c0, r * x.cols + c1), r * (c1 - c0));
  return { rows: x.rows, cols: c1 - c0, data: out };
}

/** acc[r0.., c0..] += p. NOTE: one loop per element type, so each stays monomorphic (a mixed one ran far slower). */
function addProduct(acc: Matrix, r0: number, c0: number, p: Product): void {
  if (p.data instanceof Float32Array) addRows32(acc.data, acc.cols, r0, c0, p.data, p.rows, p.cols);
  else addRows64(acc.data, acc.cols, r0, c0, p.data, p.rows, p.cols);
}

function addRows32(
  a: Float64Array,
  stride: number,
  r0: number,
  c0: number,
  p: Float32Array,
  rows: number,
  cols: number,
) {
  for (let r = 0; r < rows; r++) {
    const base = (r0 + r) * stride + c0;
    const src = r * cols;
    for (let c = 0; c < cols; c++) a[base + c] += p[src + c];
  }
}

function addRowsI32(
  a: Float64Array,
  stride: number,
  r0: number,
  c0: number,
  p: Int32Array,
  rows: number,
  cols: number,
) {
  for (let r = 0; r < rows; r++) {
    const base = (r0 + r) * stride + c0;
    const src = r * cols;
    for (let c = 0; c < cols; c++) a[base + c] += p[src + c];
  }
}

function addRows64(
  a: Float64Array,
  stride: number,
  r0: number,
  c0: number,
  p: Float64Array,
  rows: number,
  cols: number,
) {
  for (let r = 0; r < rows; r++) {
    const base = (r0 + r) * stride + c0;
    const src = r * cols;
    for (let c = 0; c < cols; c++) a[base + c] += p[src + c];
  }
}

interface VectorSource {
  count: number;
  /** Write input vector `v` of `x` into `out` at `offset` (`pad` where a conv reads outside the image). */
  write(x: ArrayLike<number>, v: number, out: Float32Array | Uint8Array, offset: number, pad: number): void;
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
      write: (x, v, out, offset) => {
        for (let i = 0; i < f; i++) out[offset + i] = x[v * f + i];
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
    write: (x, v, out, offset, pad) => {
      const img = Math.floor(v / perImage);
      const pos = v - img * perImage;
      const y0 = Math.floor(pos / ow) * sh - ph;
      const x0 = (pos % ow) * sw - pw;
      let o = offset;
      for (let ci = 0; ci < c; ci++) {
        const plane = (img * c + ci) * h * w;
        for (let i = 0; i < kh; i++) {
          const y = y0 + i;
          const inside = y >= 0 && y < h;
          for (let j = 0; j < kw; j++) {
            const xx = x0 + j;
            out[o++] = inside && xx >= 0 && xx < w ? x[plane + y * w + xx] : pad;
          }
        }
      }
    },
  };
}

/**
 * The mean from a sum whose lower triangle holds the data (see addGramLower32), scaled and mirrored in place.
 * NOTE: tiled, so the column-wise writes of the mirror stay in cache for dim in the thousands.
 */
function symmetrizedMean(sum: Matrix, scale: number): Matrix {
  const n = sum.rows;
  const d = sum.data;
  const tile = 64;
  for (let i0 = 0; i0 < n; i0 += tile) {
    const i1 = Math.min(i0 + tile, n);
    for (let j0 = 0; j0 <= i0; j0 += tile) {
      for (let i = i0; i < i1; i++) {
        const j1 = Math.min(j0 + tile, i + 1);
        for (let j = j0; j < j1; j++) {
          const v = d[i * n + j] * scale;
          d[i * n + j] = v;
          d[j * n + i] = v;
        }
      }
    }
  }
  return sum;
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
