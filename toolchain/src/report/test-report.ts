/**
 * A synthetic build report shaped like an mnist32 build (U-Net module names, 50 DDIM steps, fp32/w8a8/w4a8,
 * 8x8 sample grids), for tests and for looking at the layout. Deterministic: a tiny LCG, no Math.random.
 */
import { encodePng, imageGrid } from '@qdm/shared';
import type { BuildReport, LayerStats } from './types.ts';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const LAYER_NAMES = [
  'time_embed.0',
  'time_embed.2',
  'input_blocks.0.0',
  ...[1, 2, 4, 5, 7, 8, 10, 11].flatMap((b) => [
    `input_blocks.${b}.0.in_layers.2`,
    `input_blocks.${b}.0.emb_layers.1`,
    `input_blocks.${b}.0.out_layers.3`,
  ]),
  'input_blocks.3.0.op',
  'input_blocks.6.0.op',
  'input_blocks.9.0.op',
  'middle_block.0.in_layers.2',
  'middle_block.1.qkv',
  'middle_block.1.proj_out',
  'middle_block.2.out_layers.3',
  ...Array.from({ length: 12 }, (_, b) => [
    `output_blocks.${b}.0.in_layers.2`,
    `output_blocks.${b}.0.out_layers.3`,
    `output_blocks.${b}.0.skip_connection`,
  ]).flat(),
  'out.2',
];

/** A grid of `n` blob-like grey images (size x size), as PNG bytes; `jitter` perturbs pixels per variant. */
export function syntheticGridPng(n: number, size: number, seed: number, jitter: number): Uint8Array {
  const rand = lcg(seed);
  const noise = lcg(seed + 99);
  const nhwc = new Uint8Array(n * size * size * 3);
  for (let k = 0; k < n; k++) {
    const cx = size * (0.3 + 0.4 * rand());
    const cy = size * (0.3 + 0.4 * rand());
    const r = size * (0.18 + 0.12 * rand());
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const d = Math.hypot(x - cx, y - cy);
        const v = Math.max(0, Math.min(255, 255 * Math.exp(-((d - r) ** 2) / 6) + jitter * (noise() - 0.5)));
        nhwc.fill(Math.round(v), ((k * size + y) * size + x) * 3, ((k * size + y) * size + x) * 3 + 3);
      }
    }
  }
  const grid = imageGrid(nhwc, n, size, size, 3, Math.ceil(Math.sqrt(n)), 2);
  return encodePng(grid.data, grid.width, grid.height, 3);
}

function layers(variant: string, bits: number, recon: boolean, rand: () => number): LayerStats[] {
  const base = 6.02 * bits - 6;
  return LAYER_NAMES.map((name) => {
    const before = 10 ** (-5 + 2 * rand() - (8 - bits) * 0.3);
    return {
      variant,
      name,
      kind: name.startsWith('time_embed') || name.includes('emb_layers') ? 'linear' : 'conv',
      weightSqnrDb: base + 4 * rand(),
      activationSqnrDb: 35 - 10 * rand() + (name.includes('out_layers') ? -8 : 0),
      ...(recon ? { reconBefore: before, reconAfter: before * (0.2 + 0.5 * rand()) } : {}),
    };
  });
}

export function syntheticReport(options: { steps?: number; sites?: number; gridImages?: number } = {}): BuildReport {
  const steps = options.steps ?? 50;
  const rand = lcg(7);
  const stepIdx = Array.from({ length: steps }, (_, i) => i);
  const activationRanges = Array.from({ length: options.sites ?? 40 }, (_, s) => {
    const growth = s % 5 === 0 ? 3 + s / 10 : 0.2 * rand();
    const scale = 1 + 4 * rand();
    const width = stepIdx.map((t) => scale * (1 + growth * Math.exp(-t / (steps / 6))));
    return {
      site: LAYER_NAMES[(s * 3) % LAYER_NAMES.length] + (s % 2 ? '' : '.input'),
      steps: stepIdx,
      min: width.map((w) => -0.4 * w),
      max: width.map((w) => 0.6 * w),
    };
  });
  const gridImages = options.gridImages ?? 64;
  const seeds = Array.from({ length: gridImages }, (_, i) => i);
  const histogram = stepIdx.map(() => 0);
  for (let i = 0; i < 256; i++) histogram[Math.floor(rand() * steps)]++;
  return {
    artifact: {
      name: 'mnist32',
      createdAt: '2025-01-01T00:00:00Z',
      parameters: 6_031_233,
      imageSize: 32,
      flags: { image_size: 32, num_channels: 64, num_res_blocks: 2, learn_sigma: true, diffusion_steps: 1000 },
      checkpoint: { file: 'model.pt', sha256: 'ab'.repeat(32), bytes: 24_200_000 },
      toolchainVersion: '0.1.0',
    },
    variants: [
      { name: 'fp32', file: 'fp32.onnx', bytes: 24_180_000, precision: 'fp32' },
      {
        name: 'int8',
        file: 'int8.onnx',
        bytes: 6_210_000,
        precision: 'w8a8',
        scheme: 'full',
        weightBits: 8,
        activationBits: 8,
        recon: 'none',
        integerNodes: { QLinearConv: 41, MatMulInteger: 2 },
      },
      {
        name: 'w4a8',
        file: 'w4a8.onnx',
        bytes: 3_150_000,
        precision: 'w4a8',
        scheme: 'full',
        weightBits: 4,
        activationBits: 8,
        recon: 'gptq',
        integerNodes: { QLinearConv: 0 },
      },
    ],
    calibration: {
      policy: 'uniform',
      samples: 256,
      trajectories: 64,
      steps: 'ddim50',
      noise: 'renoised',
      observer: 'lp-2.4',
      stepHistogram: histogram,
    },
    layers: [...layers('int8', 8, false, rand), ...layers('w4a8', 4, true, rand)],
    activationRanges,
    stepSqnr: [
      {
        variant: 'int8',
        step: stepIdx,
        sqnrDb: stepIdx.map((t) => 28 + 8 * Math.exp(-t / 10) + rand()),
        wideSteps: { first: 1, last: 4, respacing: 'ddim50', tAbove: 970, tBelow: 70 },
      },
      { variant: 'w4a8', step: stepIdx, sqnrDb: stepIdx.map((t) => 14 + 6 * Math.exp(-t / 10) + rand()) },
    ],
    samples: [
      { variant: 'fp32', seeds, gridPng: syntheticGridPng(gridImages, 32, 3, 0) },
      {
        variant: 'int8',
        seeds,
        gridPng: syntheticGridPng(gridImages, 32, 3, 12),
        psnrDb: seeds.map(() => 33 + 5 * rand()),
      },
      {
        variant: 'w4a8',
        seeds,
        gridPng: syntheticGridPng(gridImages, 32, 3, 60),
        psnrDb: seeds.map(() => 20 + 5 * rand()),
      },
    ],
    keptFloat: [
      ...['middle_block.1.norm', 'input_blocks.1.0.in_layers.0', 'out.0'].map((name) => ({
        variant: 'int8',
        name,
        reason: 'GroupNorm statistics need float',
      })),
      {
        variant: 'int8',
        name: 'middle_block.1/softmax',
        reason: 'softmax kept float (scheme full, softmaxBits unset)',
      },
    ],
    phases: [
      { name: 'import', seconds: 1.8, peakRssMb: 310 },
      { name: 'calibrate', seconds: 74.2, peakRssMb: 1480 },
      { name: 'quantize int8', seconds: 21.5, peakRssMb: 1620 },
      { name: 'quantize w4a8 (gptq)', seconds: 96.4, peakRssMb: 1710 },
      { name: 'sample + compare', seconds: 38.9, peakRssMb: 900 },
    ],
    metrics: { 'classifier-FID int8 vs fp32': 0.21, host: 'ci-2core' },
  };
}
