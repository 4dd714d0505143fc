/**
 * The CIFAR-10-configuration artifact the edge benches measure: improved-diffusion's CIFAR-10 U-Net (52.5M
 * parameters) with seeded random weights, built by `buildArtifact` itself (fp32 + int8 full W8A8 with the recipe
 * the CLI ships, `resolveRecipe` of @qdm/toolchain; 4 ddim50 calibration trajectories: what matters here is size, not
 * quality), with its ORT-format edge graphs and
 * their measured edge heap. Built once into `artifacts/cifar10-random/` (git-ignored) and reused.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { encodeNpz, MANIFEST_FILE, type Tensor } from '@qdm/shared';
import { buildArtifact } from '@qdm/toolchain';
import { parseFlags, unetLayout, unetWeightShapes } from '@qdm/toolchain/models';
import { randomWeights } from './lib.ts';

export const CIFAR10_FLAGS =
  '--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True --dropout 0.3 ' +
  '--diffusion_steps 4000 --noise_schedule cosine';
export const CIFAR10_ARTIFACT = 'cifar10-random';

const log = (message: string) => process.stderr.write(`${message}\n`);

/** The artifact folder's parent (QDM_ARTIFACTS or artifacts/), building the artifact first if it is missing. */
export async function cifar10Artifact(rebuild = false): Promise<{ root: string; name: string; builtSeconds?: number }> {
  const root = resolve(process.env.QDM_ARTIFACTS ?? join(import.meta.dirname, '..', 'artifacts'));
  const dir = join(root, CIFAR10_ARTIFACT);
  if (!rebuild && existsSync(join(dir, MANIFEST_FILE))) return { root, name: CIFAR10_ARTIFACT };
  const flags = parseFlags(CIFAR10_FLAGS);
  const work = mkdtempSync(join(tmpdir(), 'qdm-cifar10-'));
  try {
    const weights: Record<string, Tensor> = {};
    for (const [name, shape] of unetWeightShapes(unetLayout(flags.unet))) weights[name] = randomWeights(name, shape);
    const checkpoint = join(work, 'cifar10-random.npz');
    writeFileSync(checkpoint, encodeNpz(weights));
    mkdirSync(root, { recursive: true });
    if (rebuild) rmSync(dir, { recursive: true, force: true });
    log(`bench: building ${dir} (about 2 minutes on 2 cores)`);
    const started = performance.now();
    await buildArtifact({
      checkpoint,
      flags,
      name: CIFAR10_ARTIFACT,
      out: dir,
      variants: [{ name: 'int8', weightBits: 8, activationBits: 8 }], // the recipe's defaults (wide steps on)
      scheme: 'full',
      keepFloat: [],
      calibration: {
        policy: { kind: 'uniform' },
        samples: 128,
        trajectories: 4,
        steps: 'ddim50',
        noise: 'gaussian',
        batch: 4,
        seed: 1,
      },
      reportSamples: 0,
      reportSteps: 'ddim50',
      log,
      progress: () => () => undefined,
    });
    return { root, name: CIFAR10_ARTIFACT, builtSeconds: (performance.now() - started) / 1000 };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
