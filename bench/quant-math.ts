/**
 * Quantization math speed: GPTQ (Cholesky + column sweep + error evaluation) on the largest CIFAR-10 U-Net layer
 * shapes, moment accumulation and the per-channel L_p scale search, with the pure-JS and onnxruntime kernels.
 * With --unet, also every conv/linear layer of the CIFAR-10 U-Net (52.5M parameters): moments from 4096 sampled
 * input vectors per layer (float32 kernels) and GPTQ int8 (float64 kernels) on them.
 * Prints one JSON object. Usage: node bench/quant-math.ts [--skip-js] [--unet]
 */
import {
  cholesky,
  gptq,
  INT4_WEIGHTS,
  jsKernels,
  type Matrix,
  type MatrixKernels,
  MomentAccumulator,
  matrix,
  ortKernels,
  weightScales,
} from '@qdm/toolchain/quantize';
import { provenance } from './lib.ts';
import { machineInfo } from './machine.ts';

// Recorded when the bench starts (the load average beside the run).
const machine = machineInfo();

const skipJs = process.argv.includes('--skip-js');
const unet = process.argv.includes('--unet');

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

const whole = unet ? await cifarUnet() : undefined;
console.log(
  JSON.stringify(
    {
      ...provenance('quant-math', machine),
      gptq: results,
      moments,
      lpScaleSearch: { in: 4608, out: 256, seconds: lpS },
      cifarUnet: whole,
    },
    null,
    1,
  ),
);

/** [out, in (flattened), kernel] of every conv/linear of improved-diffusion's CIFAR-10 model. */
function cifarLayers(): { out: number; in: number; k: number }[] {
  const ch = 128;
  const layers = [
    { out: 4 * ch, in: ch, k: 1 },
    { out: 4 * ch, in: 4 * ch, k: 1 },
    { out: ch, in: 3, k: 3 },
  ];
  const res = (cin: number, cout: number) => {
    layers.push({ out: cout, in: cin, k: 3 }, { out: 2 * cout, in: 4 * ch, k: 1 }, { out: cout, in: cout, k: 3 });
    if (cin !== cout) layers.push({ out: cout, in: cin, k: 1 });
  };
  const attn = (c: number) => layers.push({ out: 3 * c, in: c, k: 1 }, { out: c, in: c, k: 1 });
  const mult = [1, 2, 2, 2];
  const skips = [ch];
  let cur = ch;
  mult.forEach((m, level) => {
    for (let i = 0; i < 3; i++) {
      res(cur, m * ch);
      cur = m * ch;
      if (level === 1 || level === 2) attn(cur);
      skips.push(cur);
    }
    if (level < 3) {
      layers.push({ out: cur, in: cur, k: 3 });
      skips.push(cur);
    }
  });
  res(cur, cur);
  attn(cur);
  res(cur, cur);
  [...mult].reverse().forEach((m, r) => {
    const level = 3 - r;
    for (let i = 0; i < 4; i++) {
      res(cur + (skips.pop() as number), m * ch);
      cur = m * ch;
      if (level === 1 || level === 2) attn(cur);
      if (i === 3 && level > 0) layers.push({ out: cur, in: cur, k: 3 });
    }
  });
  layers.push({ out: 6, in: ch, k: 3 });
  return layers.map((l) => ({ out: l.out, in: l.in * l.k * l.k, k: l.k }));
}

async function cifarUnet() {
  const layers = cifarLayers();
  const params = layers.reduce((n, l) => n + l.out * l.in, 0);
  const f32 = ortKernels({ precision: 'float32' });
  const f64 = ortKernels({ precision: 'float64' });
  let momentS = 0;
  let gptqS = 0;
  let errorRatio = 0;
  for (const [i, l] of layers.entries()) {
    // 4096 input vectors of a linear layer with l.in features: the same gemm work as 4096 im2col columns.
    const acc = new MomentAccumulator({ kind: 'linear', features: l.in }, f32);
    const x = Float32Array.from(pseudoRandom(4096, l.in, 100 + i).data);
    for (let r = 1; r < 4096 * l.in; r++) x[r] += 0.5 * x[r - 1]; // correlated inputs
    const [ms, m] = await seconds(async () => {
      await acc.add(x, [4096, l.in]);
      return acc.finish();
    });
    const w = pseudoRandom(l.out, l.in, 200 + i, 0.1);
    const [gs, r] = await seconds(() => gptq(w, m.h, f64, { grid: INT4_WEIGHTS }));
    momentS += ms;
    gptqS += gs;
    errorRatio += r.error / r.errorNearest / layers.length;
  }
  await f32.dispose();
  await f64.dispose();
  return {
    layers: layers.length,
    parameters: params,
    momentSeconds: momentS,
    gptqSeconds: gptqS,
    meanErrorRatio: errorRatio,
  };
}
