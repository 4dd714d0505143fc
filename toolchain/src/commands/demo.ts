import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { defineCommand } from 'citty';
import { loadFlags } from '../artifact/import.ts';
import { buildArtifact } from '../build-artifact/build.ts';
import { commonArgs, emit } from '../cli/output.ts';
import { logger, progressBars } from '../cli/progress.ts';
import { UserError } from '../errors.ts';

/** ../shared beside the repository (override with QDM_SHARED), as in the README's quick start. */
function sharedDir(): string {
  return process.env.QDM_SHARED ?? resolve(import.meta.dirname, '../../../../shared');
}

export default defineCommand({
  meta: {
    name: 'demo',
    description:
      'The quick-start job: import ../shared/models/mnist32, build its int8 variant (full scheme, W8A8), sample fp32 ' +
      'and int8 from the same seeds and write the report (QDM_SHARED overrides ../shared)',
  },
  args: {
    out: { type: 'string', description: 'artifact folder to write', default: 'artifacts/mnist32' },
    ...commonArgs,
  },
  async run({ args }) {
    const shared = sharedDir();
    const checkpoint = join(shared, 'models/mnist32/ema.pt');
    if (!existsSync(checkpoint)) {
      throw new UserError(`${checkpoint} not found: put the shared/ folder beside the repo or set QDM_SHARED`);
    }
    const quiet = args.quiet || args.json;
    const result = await buildArtifact({
      checkpoint,
      flags: await loadFlags(join(shared, 'models/mnist32/flags.json')),
      name: 'mnist32',
      out: resolve(args.out),
      // The recipe `build-artifact` ships for W8A8 (recipe.ts): its defaults, nothing set here.
      variants: [{ name: 'int8', weightBits: 8, activationBits: 8 }],
      scheme: 'full',
      keepFloat: [],
      calibration: {
        policy: { kind: 'uniform' },
        samples: 256,
        trajectories: 32,
        steps: 'ddim50',
        noise: 'gaussian',
        batch: 16,
        seed: 1,
      },
      reportSamples: 16,
      reportSteps: 'ddim50',
      log: logger(!quiet),
      progress: progressBars(!quiet),
    });
    const int8 = result.variants[0];
    emit(args.json, { location: result.location, variants: result.variants, phases: result.phases }, () =>
      [
        `demo artifact: ${result.location}`,
        `  fp32 ${(result.manifest.variants.fp32.bytes / 1e6).toFixed(1)} MB -> int8 ${(int8.bytes / 1e6).toFixed(2)} MB ` +
          `(${(int8.ratio * 100).toFixed(0)}%), ${Object.values(int8.integerNodes).reduce((a, b) => a + b, 0)} integer kernels`,
        `  same-seed PSNR int8 vs fp32 over 16 seeds (DDIM 50): ${int8.psnrDb?.toFixed(2)} dB`,
        `  report: ${join(result.location, result.manifest.report ?? '')}`,
        `  serve it: ${serveCommand(result.location)}   (then open http://127.0.0.1:8787/)`,
      ].join('\n'),
    );
  },
});

/** The edge serves the repository's artifacts/ by default; an artifact written elsewhere needs QDM_ARTIFACTS. */
export function serveCommand(location: string): string {
  const store = dirname(resolve(location));
  const repoArtifacts = resolve(import.meta.dirname, '../../../artifacts');
  return store === repoArtifacts ? 'npm run serve' : `QDM_ARTIFACTS=${store} npm run serve`;
}
