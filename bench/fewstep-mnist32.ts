/**
 * Few-step samplers on mnist32: DDIM and DPM-Solver++(2M) at 5, 8, 10, 15, 20, 25 and 50 model calls (ddimK model
 * times), fp32 and int8 (build-artifact's default recipe, its PTQD correction applied), N seeded samples each.
 * Per cell: class-FID against held-out digits as `toolchain eval` computes it (MNIST classifier features, ref
 * mnist:9000-9999), same-seed PSNR (uint8) vs fp32 at the same sampler and calls, and vs fp32 DDIM-50 (the images
 * a long run gives); sampling seconds. Then the default check: the fewest calls (either sampler) whose fp32
 * class-FID is within 2% of fp32 ddim25 (the edge's default before this bench), and whether that beats 25 calls.
 *
 *   node bench/fewstep-mnist32.ts [--n 128] [--batch 64] [--threads 2] [--calls 5,8,10,15,20,25,50]
 *     [--artifact DIR (with fp32 and int8; default: import + build-artifact into a temp folder)]
 *     [--out bench/results/fewstep-mnist32.json]
 *
 * Prints one JSON object; writes --out (default path only with the default arguments).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { SamplerName } from '@qdm/shared';
import {
  featuresOf,
  openNetworkFromArgs,
  openVariant,
  pixelDiff,
  prepareReference,
  readArtifactManifest,
  readVariant,
  sampleWith,
  scoreAgainst,
} from '@qdm/toolchain';
import { provenance, writeResult } from './lib.ts';

const DEFAULTS = { n: '128', batch: '64', threads: '2', calls: '5,8,10,15,20,25,50' };
const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: DEFAULTS.n },
    batch: { type: 'string', default: DEFAULTS.batch },
    threads: { type: 'string', default: DEFAULTS.threads },
    calls: { type: 'string', default: DEFAULTS.calls },
    artifact: { type: 'string' },
    out: { type: 'string' },
  },
});
const n = Number(args.n);
const batch = Number(args.batch);
const threads = Number(args.threads);
const callCounts = args.calls.split(',').map(Number);
const defaults = Object.entries(DEFAULTS).every(([k, v]) => args[k as keyof typeof DEFAULTS] === v) && !args.artifact;
const repo = resolve(import.meta.dirname, '..');
const shared = process.env.QDM_SHARED ?? resolve(repo, '../shared');
const toolchain = join(repo, 'toolchain/bin/toolchain.js');
const SAMPLERS: SamplerName[] = ['ddim', 'dpm++2m'];
const VARIANTS = ['fp32', 'int8'];
const REF = 'mnist:9000-9999';
const classifier = join(shared, 'models/mnist-classifier/mnist_classifier.onnx');
const started = performance.now();
const origin = provenance('fewstep-mnist32'); // read now: the run takes minutes, the tree may move on
const log = (text: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0)}s] ${text}\n`);

const BUILD_ARGS = ['--report-steps', 'ddim5', '--quiet'];
let work: string | undefined;
let artifact = args.artifact;
if (!artifact) {
  work = mkdtempSync(join(tmpdir(), 'qdm-fewstep-'));
  artifact = join(work, 'mnist32');
  const checkpoint = join(shared, 'models/mnist32/ema.pt');
  const flags = join(shared, 'models/mnist32/flags.json');
  log('toolchain import mnist32');
  execFileSync(process.execPath, [
    toolchain,
    'import',
    '--checkpoint',
    checkpoint,
    '--flags',
    flags,
    '--out',
    artifact,
    '--quiet',
  ]);
  log(`toolchain build-artifact ${BUILD_ARGS.join(' ')} (the default int8 recipe)`);
  execFileSync(process.execPath, [toolchain, 'build-artifact', '--artifact', artifact, ...BUILD_ARGS], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

try {
  const manifest = await readArtifactManifest(artifact);
  for (const v of VARIANTS) if (!manifest.variants[v]) throw new Error(`${artifact} has no variant ${v}`);
  const network = (await openNetworkFromArgs({
    features: classifier,
    'features-outputs': 'logits,features,-',
    threads: String(threads),
  }))!;
  const reference = await prepareReference({ ref: REF }, network, { batchSize: 256, progress: false, k: 3 });

  interface Cell {
    variant: string;
    sampler: SamplerName;
    calls: number;
    classFid: number | null;
    psnrVsFp32SameSampler: number | null;
    psnrVsFp32Ddim50: number | null;
    seconds: number;
  }
  const cells: Cell[] = [];
  const images = new Map<string, Uint8Array>();
  const key = (variant: string, sampler: string, calls: number) => `${variant}/${sampler}/${calls}`;
  for (const variant of VARIANTS) {
    const session = await openVariant(await readVariant(artifact, manifest, variant), manifest, threads, 'cpu');
    try {
      for (const sampler of SAMPLERS) {
        for (const calls of callCounts) {
          const t0 = performance.now();
          const result = await sampleWith(session.denoiser, manifest, {
            firstSample: 0,
            count: n,
            seed: 0,
            steps: `ddim${calls}`,
            eta: 0,
            batch,
            sampler,
            correction: manifest.variants[variant].noiseCorrection,
          });
          const seconds = (performance.now() - t0) / 1000;
          images.set(key(variant, sampler, calls), result.images);
          const [c, h, w] = result.shape;
          const features = await featuresOf(network, { images: result.images, n, h, w, c }, { batchSize: 256 });
          const fid = scoreAgainst(features, reference.stats, { k: 3 }).fid;
          cells.push({
            variant,
            sampler,
            calls,
            classFid: fid === null || !Number.isFinite(fid) ? null : fid,
            psnrVsFp32SameSampler: null,
            psnrVsFp32Ddim50: null,
            seconds,
          });
          log(`${variant} ${sampler} ${calls} calls: class-FID ${fid?.toFixed(1)} (${seconds.toFixed(0)} s)`);
        }
      }
    } finally {
      await session.release();
    }
  }
  await network.release();

  const psnr = (a: Uint8Array | undefined, b: Uint8Array | undefined) => {
    if (!a || !b) return null;
    const p = pixelDiff(a, b, n).psnrPooled; // the pooled MSE's PSNR, as the committed JSON records
    return Number.isFinite(p) ? p : null;
  };
  const longRun = images.get(key('fp32', 'ddim', 50));
  for (const cell of cells) {
    const own = images.get(key(cell.variant, cell.sampler, cell.calls));
    if (cell.variant !== 'fp32')
      cell.psnrVsFp32SameSampler = psnr(images.get(key('fp32', cell.sampler, cell.calls)), own);
    if (cell !== cells.find((c) => c.variant === 'fp32' && c.sampler === 'ddim' && c.calls === 50)) {
      cell.psnrVsFp32Ddim50 = psnr(longRun, own);
    }
  }

  // The default check: fewest calls whose fp32 class-FID is within 2% of fp32 ddim25.
  const baseline = cells.find((c) => c.variant === 'fp32' && c.sampler === 'ddim' && c.calls === 25);
  const within = baseline?.classFid
    ? cells
        .filter((c) => c.variant === 'fp32' && c.classFid !== null && c.classFid <= 1.02 * baseline.classFid!)
        .sort((a, b) => a.calls - b.calls || (a.classFid ?? 0) - (b.classFid ?? 0))
    : [];
  const fewest = within[0];
  const decision = {
    rule: 'change the default (ddim, ddim25) only if the fewest calls whose fp32 class-FID is within 2% of fp32 ddim25 is below 25',
    baseline: baseline && { sampler: 'ddim', steps: 'ddim25', classFid: baseline.classFid },
    limit: baseline?.classFid ? 1.02 * baseline.classFid : null,
    fewest: fewest ? { sampler: fewest.sampler, calls: fewest.calls, classFid: fewest.classFid } : null,
    changeDefault: fewest !== undefined && fewest.calls < 25,
  };

  const report = {
    ...origin,
    settings: {
      samples: n,
      note: `${n} seeded samples per cell (seed 0, samples 0..${n - 1}), sized to run in about 20 minutes on 2 cores shared with other sessions (256 would take about 40); class-FID at this size is noisy (two halves of the held-out digits score about 105 at 500 samples)`,
      batch,
      threads,
      eta: 0,
      respacing: 'ddimK: K model calls at the times DDIM uses',
      int8: args.artifact
        ? `variant int8 of ${args.artifact}`
        : `toolchain build-artifact ${BUILD_ARGS.join(' ')} (default recipe)`,
      int8Quantization: manifest.variants.int8.quantization ?? null,
      int8NoiseCorrection: manifest.variants.int8.noiseCorrection ? 'ptqd (applied to every call)' : 'none',
      classFid: `toolchain eval's FID on ${classifier.replace(shared, '$QDM_SHARED')} features, ref ${REF}`,
      psnr: 'same-seed PSNR of uint8 images, pooled MSE',
    },
    cells,
    decision,
    seconds: (performance.now() - started) / 1000,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}
`);
  const out = writeResult('fewstep-mnist32', report, { defaultRun: defaults, out: args.out, indent: 2 });
  if (out) log(`wrote ${out}`);
} finally {
  if (work) rmSync(work, { recursive: true, force: true });
}
