import { afterAll, describe, expect, it } from 'vitest';
import { cholesky, invertLower, NotPositiveDefiniteError } from './cholesky.ts';
import { gptq } from './gptq.ts';
import { gemmJs, gram, jsKernels, type MatrixKernels } from './kernels.ts';
import { ortKernels } from './kernels-ort.ts';
import { type Matrix, matrix, transpose } from './matrix.ts';

/** Deterministic pseudo-random matrix (Park-Miller), values in [-0.5, 0.5). */
function pseudoRandom(rows: number, cols: number, seed: number): Matrix {
  const m = matrix(rows, cols);
  let s = seed;
  for (let i = 0; i < m.data.length; i++) {
    s = (s * 16807) % 2147483647;
    m.data[i] = s / 2147483647 - 0.5;
  }
  return m;
}

/** Naive triple loop: the independent reference for every gemm. */
function naiveProduct(a: Matrix, b: Matrix): Matrix {
  const c = matrix(a.rows, b.cols);
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < b.cols; j++) {
      let s = 0;
      for (let p = 0; p < a.cols; p++) s += a.data[i * a.cols + p] * b.data[p * b.cols + j];
      c.data[i * b.cols + j] = s;
    }
  return c;
}

function maxAbsDiff(a: Matrix, b: Matrix): number {
  expect([a.rows, a.cols]).toEqual([b.rows, b.cols]);
  let d = 0;
  for (let i = 0; i < a.data.length; i++) d = Math.max(d, Math.abs(a.data[i] - b.data[i]));
  return d;
}

function spd(n: number, seed: number): Matrix {
  const x = pseudoRandom(2 * n, n, seed);
  const h = naiveProduct(transpose(x), x);
  for (let i = 0; i < n; i++) h.data[i * n + i] += 0.05;
  return h;
}

const backends: [string, MatrixKernels, number][] = [
  ['js', jsKernels(), 1e-12],
  ['ort float64', ortKernels({ precision: 'float64', intraOpNumThreads: 1 }), 1e-12],
  ['ort float32', ortKernels({ precision: 'float32', intraOpNumThreads: 1 }), 1e-4],
];
afterAll(async () => {
  for (const [, k] of backends) await k.dispose();
});

describe.each(backends)('%s kernels', (_, kernels, tol) => {
  it('gemm with every transpose combination', async () => {
    const a = pseudoRandom(37, 70, 1);
    const b = pseudoRandom(70, 45, 2);
    const expected = naiveProduct(a, b);
    for (const [transA, transB] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ]) {
      const got = await kernels.gemm(transA ? transpose(a) : a, transB ? transpose(b) : b, { transA, transB });
      expect(maxAbsDiff(got, expected)).toBeLessThan(tol * 10);
    }
    await expect(kernels.gemm(a, a)).rejects.toThrow(/inner dimensions/);
  });

  it('gram products X^T X and X X^T by lower block triangle', async () => {
    const x = pseudoRandom(23, 50, 8);
    const inner = await gram(x, kernels, { blockSize: 16 });
    expect(maxAbsDiff(inner, naiveProduct(transpose(x), x))).toBeLessThan(tol * 10);
    const outer = await gram(x, kernels, { outer: true, blockSize: 7 });
    expect(maxAbsDiff(outer, naiveProduct(x, transpose(x)))).toBeLessThan(tol * 10);
  });

  it('gemm32 on float32 operands (subarray views)', async () => {
    const a = pseudoRandom(37, 70, 1);
    const b = pseudoRandom(45, 70, 2);
    const a32 = new Float32Array(a.data.length + 70);
    a32.set(a.data, 70);
    const view = { rows: 37, cols: 70, data: a32.subarray(70) };
    const got = await kernels.gemm32(view, { rows: 45, cols: 70, data: new Float32Array(b.data) }, { transB: true });
    const expected = naiveProduct(matrix(37, 70, view.data), transpose(matrix(45, 70, new Float32Array(b.data))));
    expect(maxAbsDiff({ rows: got.rows, cols: got.cols, data: Float64Array.from(got.data) }, expected)).toBeLessThan(
      tol * 10,
    );
  });

  it('accepts subarray views', async () => {
    const big = pseudoRandom(10, 8, 3);
    const view = { rows: 4, cols: 8, data: big.data.subarray(16, 48) };
    const got = await kernels.gemm(view, view, { transA: true });
    expect(maxAbsDiff(got, naiveProduct(transpose(matrix(4, 8, view.data)), matrix(4, 8, view.data)))).toBeLessThan(
      tol * 10,
    );
  });

  it('blocked Cholesky reconstructs H and its triangular inverse inverts it', async () => {
    const n = 300;
    const h = spd(n, 4);
    const l = await cholesky(h, kernels, { blockSize: 200 }); // 200 > 128: diagonal blocks recurse
    expect(maxAbsDiff(await cholesky(h, kernels, { blockSize: 32 }), l)).toBeLessThan(tol * 10);
    for (let i = 0; i < n; i++) {
      expect(l.data[i * n + i]).toBeGreaterThan(0);
      for (let j = i + 1; j < n; j++) expect(l.data[i * n + j]).toBe(0);
    }
    const scale = Math.max(...h.data.map(Math.abs));
    expect(maxAbsDiff(gemmJs(l, l, { transB: true }), h) / scale).toBeLessThan(tol * 10);
    const inv = await invertLower(l, kernels, 32);
    const eye = matrix(n, n);
    for (let i = 0; i < n; i++) eye.data[i * n + i] = 1;
    expect(maxAbsDiff(gemmJs(inv, l), eye)).toBeLessThan(tol * 100);
  });
});

describe('kernels agree on a GPTQ problem', () => {
  it('float64 onnxruntime gives the JS integers; float32 the same error to 1e-3', async () => {
    const x = pseudoRandom(600, 200, 5);
    const h = naiveProduct(transpose(x), x);
    const w = pseudoRandom(12, 200, 6);
    const opts = { grid: { qmin: -8, qmax: 7 }, blockSize: 64 };
    const [js, f64, f32] = await Promise.all(backends.map(([, k]) => gptq(w, h, k, opts)));
    expect(Array.from(f64.q)).toEqual(Array.from(js.q));
    expect(f64.error).toBeCloseTo(js.error, 10);
    expect(Math.abs(f32.error - js.error)).toBeLessThan(1e-3 * js.error);
    expect(js.error).toBeLessThan(0.9 * js.errorNearest);
  });

  it('reports a matrix that is not positive definite', async () => {
    const h = matrix(2, 2, [1, 2, 2, 1]);
    await expect(cholesky(h, jsKernels())).rejects.toThrow(NotPositiveDefiniteError);
  });
});
