/**
 * Quantization math speed: GPTQ (Cholesky + column sweep + error evaluation) on the largest CIFAR-10 U-Net layer
 * shapes, moment accumulation and the per-channel L_p scale search, with the pure-JS and onnxruntime kernels.
 * Prints one JSON object. Usage: node bench/quant-math.ts [--skip-js]
 */
import { cholesky } from '../toolchain/src/quantize/cholesky.ts';
import { gptq } from '../toolchain/src/quantize/gptq.ts';
import { jsKernels, type MatrixKernels } from '../toolchain/src/quantize/kernels.ts';
import { ortKernels } from '../toolchain/src/quantize/kernels-ort.ts';
import { type Matrix, matrix } from '../toolchain/src/quantize/matrix.ts';
import { MomentAccumulator } from '../toolchain/src/quantize/moments.ts';
import { INT4_WEIGHTS } from '../toolchain/src/quantize/quant.ts';
import { weightScales } from '../toolchain/src/quantize/range-search.ts';

const skipJs = process.argv.includes('--skip-js');

function pseudoRandom(rows: number, cols: number, seed: number, scale = 1): Matrix {
  const m = matrix(rows, cols);
  let s = seed;
  for (let i = 0; i < m.data.length; i++) {
    s = (s * 16807) % 2147483647;
    m.data[i] = (s / 2147483647 - 0.5) * scale;
  }
  return m;
}

async function seconds<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await f();
  return [(performance.now() - t0) / 1000, r];
}

/** H from 2*in correlated input vectors (column mixing makes it far from diagonal). */
async function inputMoments(inDim: number, kernels: MatrixKernels): Promise<Matrix> {
  const z = pseudoRandom(2 * inDim, inDim, 11);
  for (let r = 0; r < z.rows; r++)
    for (let c = 1; c < inDim; c++) z.data[r * inDim + c] += 0.5 * z.data[r * inDim + c - 1];
  const h = await kernels.gemm(z, z, { transA: true });
  for (let i = 0; i < h.data.length; i++) h.data[i] /= z.rows;
  return h;
}

const shapes = [
  { in: 4608, out: 256 },
  { in: 1152, out: 128 },
];
const backends: [string, () => MatrixKernels][] = [
  ['ort-float64', () => ortKernels({ precision: 'float64' })],
  ['ort-float32', () => ortKernels({ precision: 'float32' })],
  ...(skipJs ? [] : ([['js', jsKernels]] as [string, () => MatrixKernels][])),
];

const results: Record<string, unknown>[] = [];
const helper = ortKernels();
for (const shape of shapes) {
  const h = await inputMoments(shape.in, helper);
  const w = pseudoRandom(shape.out, shape.in, 7, 0.1);
  for (const [name, make] of backends) {
    const kernels = make();
    const [choleskyS] = await seconds(() => cholesky(h, kernels));
    const [gptqS, r] = await seconds(() => gptq(w, h, kernels, { grid: INT4_WEIGHTS }));
    results.push({
      bench: 'gptq',
      ...shape,
      kernels: name,
      seconds: gptqS,
      choleskySeconds: choleskyS,
      errorNearest: r.errorNearest,
      error: r.error,
    });
    await kernels.dispose();
  }
}

const moments: Record<string, unknown>[] = [];
for (const [name, make] of backends.filter(([n]) => n !== 'js')) {
  const kernels = make();
  // conv 3x3, 512 channels at 8x8: 4096 sampled columns of 4608 values
  const channels = 512;
  const x = Float32Array.from(pseudoRandom(1, 64 * channels * 64, 3).data);
  const acc = new MomentAccumulator(
    { kind: 'conv', channels, conv: { kernel: [3, 3], stride: [1, 1], padding: [1, 1] } },
    kernels,
    { rate: 1 },
  );
  const [s] = await seconds(async () => {
    await acc.add(x, [64, channels, 8, 8]);
    return acc.finish();
  });
  moments.push({ bench: 'moments', kernels: name, in: 4608, columns: acc.count, seconds: s });
  await kernels.dispose();
}

const w = pseudoRandom(256, 4608, 9, 0.1);
const t0 = performance.now();
weightScales(w, INT4_WEIGHTS, { method: 'lp' });
const lpS = (performance.now() - t0) / 1000;
await helper.dispose();

console.log(JSON.stringify({ gptq: results, moments, lpScaleSearch: { in: 4608, out: 256, seconds: lpS } }, null, 1));
