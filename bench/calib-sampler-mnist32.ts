/**
 * Calibration for the sampler that serves, on mnist32: W8A8 (build-artifact's default recipe, wide steps off so the
 * calibration is the only difference) calibrated on the default fp32 DDIM-50 trajectories vs on the serving
 * sampler's own trajectories (`--calib-sampler dpm++2m --calib-steps ddimK`), each sampled with DPM-Solver++(2M)
 * and with DDIM at K calls: same-seed PSNR (uint8) vs fp32 at that sampler and K, and class-FID against held-out
 * digits as `toolchain eval` computes it (MNIST classifier, ref mnist:9000-9999).
 *
 *   node bench/calib-sampler-mnist32.ts [--n 128] [--calls 10] [--batch 64] [--threads 2]
 *     [--out bench/results/calib-sampler-mnist32.json]
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

const DEFAULTS = { n: '128', calls: '10', batch: '64', threads: '2' };
const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: DEFAULTS.n },
    calls: { type: 'string', default: DEFAULTS.calls },
    batch: { type: 'string', default: DEFAULTS.batch },
    threads: { type: 'string', default: DEFAULTS.threads },
    out: { type: 'string' },
  },
});
const n = Number(args.n);
const calls = Number(args.calls);
const batch = Number(args.batch);
const threads = Number(args.threads);
const defaults = Object.entries(DEFAULTS).every(([k, v]) => args[k as keyof typeof DEFAULTS] === v);
const repo = resolve(import.meta.dirname, '..');
const shared = process.env.QDM_SHARED ?? resolve(repo, '../shared');
const toolchain = join(repo, 'toolchain/bin/toolchain.js');
const classifier = join(shared, 'models/mnist-classifier/mnist_classifier.onnx');
const REF = 'mnist:9000-9999';
const started = performance.now();
const origin = provenance('calib-sampler-mnist32'); // read now: the run takes minutes, the tree may move on
const log = (text: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0)}s] ${text}\n`);

const BUILDS: Record<string, string[]> = {
  'int8-ddim50': ['--wide-steps', 'off', '--report-samples', '0', '--quiet'],
  [`int8-dpm${calls}`]: [
    '--wide-steps',
    'off',
    '--calib-sampler',
    'dpm++2m',
    '--calib-steps',
    `ddim${calls}`,
    '--report-samples',
    '0',
    '--quiet',
  ],
};
const work = mkdtempSync(join(tmpdir(), 'qdm-calib-sampler-'));
const artifact = join(work, 'mnist32');
try {
  const checkpoint = join(shared, 'models/mnist32/ema.pt');
  const flags = join(shared, 'models/mnist32/flags.json');
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
  for (const [name, extra] of Object.entries(BUILDS)) {
    log(`build-artifact --variant-name ${name} ${extra.join(' ')}`);
    execFileSync(
      process.execPath,
      [toolchain, 'build-artifact', '--artifact', artifact, '--variant-name', name, ...extra],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
  }
  const manifest = await readArtifactManifest(artifact);
  const network = (await openNetworkFromArgs({
    features: classifier,
    'features-outputs': 'logits,features,-',
    threads: String(threads),
  }))!;
  const reference = await prepareReference({ ref: REF }, network, { batchSize: 256, progress: false, k: 3 });
  const images = new Map<string, Uint8Array>();
  const rows: Record<string, unknown>[] = [];
  for (const variant of ['fp32', ...Object.keys(BUILDS)]) {
    const session = await openVariant(await readVariant(artifact, manifest, variant), manifest, threads, 'cpu');
    try {
      for (const sampler of ['dpm++2m', 'ddim'] as SamplerName[]) {
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
        images.set(`${variant}/${sampler}`, result.images);
        const [c, h, w] = result.shape;
        const features = await featuresOf(network, { images: result.images, n, h, w, c }, { batchSize: 256 });
        const fid = scoreAgainst(features, reference.stats, { k: 3 }).fid;
        const fp32 = images.get(`fp32/${sampler}`);
        const psnr = variant === 'fp32' || !fp32 ? null : pixelDiff(fp32, result.images, n).psnrPooled; // the pooled MSE's PSNR, as its JSON records
        rows.push({
          variant,
          calibration: manifest.variants[variant].quantization?.calibration ?? null,
          schedule: manifest.variants[variant].schedule ?? null,
          sampler,
          calls,
          classFid: fid,
          psnrVsFp32: psnr,
        });
        log(`${variant} ${sampler} ${calls}: class-FID ${fid?.toFixed(1)}, PSNR ${psnr?.toFixed(2) ?? '-'} dB`);
      }
    } finally {
      await session.release();
    }
  }
  await network.release();
  const report = {
    ...origin,
    settings: {
      samples: n,
      note: `${n} seeded samples per row (seed 0); class-FID at this size is noisy, same-seed PSNR much less so`,
      builds: Object.fromEntries(
        Object.entries(BUILDS).map(([k, v]) => [k, `toolchain build-artifact ${v.join(' ')}`]),
      ),
      classFid: `toolchain eval's FID on ${classifier.replace(shared, '$QDM_SHARED')} features, ref ${REF}`,
    },
    rows,
    seconds: (performance.now() - started) / 1000,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}
`);
  const out = writeResult('calib-sampler-mnist32', report, { defaultRun: defaults, out: args.out, indent: 2 });
  if (out) log(`wrote ${out}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
