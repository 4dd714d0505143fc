/**
 * What a user meets on plausible wrong input: one line naming the problem (exit 2 for the command line, 1 for the
 * data), no stack trace, nothing written. Runs against a fake artifact, so it never loads a model.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePng } from '@qdm/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli } from './cli.ts';
import { makeFakeArtifact } from './fake-artifact.ts';

const work = mkdtempSync(join(tmpdir(), 'qdm-cli-errors-'));
const artifact = join(work, 'fake');
const png = join(work, 'grid.png');
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(async () => {
  await makeFakeArtifact(artifact);
  writeFileSync(png, encodePng(new Uint8Array(4 * 4 * 3), 4, 4, 3));
});

/** One line on stderr (plus the `see: --help` hint for usage errors), no stack trace, no "internal error". */
function expectOneLine(result: CliResult, code: number, message: RegExp): void {
  expect(result.code, result.stderr).toBe(code);
  const lines = result.stderr.trim().split('\n');
  expect(lines[0]).toMatch(message);
  expect(lines.length).toBe(code === 2 ? 2 : 1);
  expect(result.stderr).not.toMatch(/internal error|\n\s+at /);
}

function sample(...extra: string[]): Promise<CliResult> {
  return runCli(['sample', '--artifact', artifact, '--n', '2', '--steps', 'ddim4', ...extra]);
}

describe('toolchain sample: bad input', () => {
  it('refuses a shard outside 0..n-1 and a malformed one as usage errors', async () => {
    const out = join(work, 'shard.npz');
    expectOneLine(await sample('--shard', '3/2', '--out', out), 2, /--shard 3\/2: need 0 <= i < n/);
    expectOneLine(await sample('--shard', 'half', '--out', out), 2, /--shard must be i\/n/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses steps the model cannot take before loading it', async () => {
    const out = join(work, 'steps.npz');
    expectOneLine(await sample('--steps', 'ddimX', '--out', out), 2, /--steps: invalid steps "ddimX"/);
    const tooMany = await runCli(['sample', '--artifact', artifact, '--steps', '2000', '--out', out]);
    expectOneLine(tooMany, 2, /--steps: .*1000 steps/);
    expect(existsSync(out)).toBe(false);
  });

  it('wants .npz for --out and .png for --grid, and a bucket and key in an s3:// output', async () => {
    expectOneLine(await sample('--out', join(work, 'samples.png')), 2, /--out must name a \.npz file/);
    expectOneLine(await sample('--out', join(work, 'a.npz'), '--grid', join(work, 'g.npz')), 2, /--grid .*\.png/);
    expectOneLine(await sample('--out', 's3:///samples.npz'), 1, /s3:\/\/\/samples\.npz: no bucket name/);
    expectOneLine(await sample('--out', 's3://samples.npz'), 1, /s3:\/\/samples\.npz: expected s3:\/\/bucket\/key/);
    expect(readdirSync(work).filter((f) => f.endsWith('.npz'))).toEqual([]);
  });

  it('refuses an eta for the ddpm sampler, which has none', async () => {
    const result = await sample('--sampler', 'ddpm', '--eta', '0.5', '--out', join(work, 'ddpm.npz'));
    expectOneLine(result, 2, /--eta is for --sampler ddim/);
    const dpm = await sample('--sampler', 'dpmpp2m', '--eta', '0.5', '--out', join(work, 'dpm.npz'));
    expectOneLine(dpm, 2, /--eta is for --sampler ddim; dpm\+\+2m takes no eta/);
  });

  it('names the samplers when --sampler names none', async () => {
    const result = await sample('--sampler', 'euler', '--out', join(work, 'euler.npz'));
    expectOneLine(result, 2, /--sampler must be one of ddim, ddpm, dpm\+\+2m \(or dpmpp2m\), got "euler"/);
  });

  it('points from a folder of artifacts to the artifact in it', async () => {
    const result = await runCli(['sample', '--artifact', work, '--n', '1', '--out', join(work, 'store.npz')]);
    expectOneLine(
      result,
      1,
      new RegExp(`${work}: a folder of artifacts \\(fake\\), not an artifact: give ${artifact}$`),
    );
  });

  it('names an --init-noise file that is not .npy', async () => {
    const result = await sample('--out', join(work, 'noise.npz'), '--init-noise', png);
    expectOneLine(result, 1, new RegExp(`${png}: not a \\.npy file`));
  });
});

describe('toolchain merge and import: bad input', () => {
  it('merge names a shard that is not an .npz', async () => {
    const out = join(work, 'merged.npz');
    expectOneLine(await runCli(['merge', '--out', out, png]), 1, new RegExp(`${png}: not a readable \\.npz`));
    expect(existsSync(out)).toBe(false);
  });

  it('import takes the flags string pasted after --flags, as docs/cli.md and improved-diffusion show it', async () => {
    const missing = join(work, 'missing.pt');
    const result = await runCli([
      'import',
      '--checkpoint',
      missing,
      '--flags',
      '--image_size 32 --num_channels 32',
      '--out',
      join(work, 'imported'),
      '--quiet',
    ]);
    // The flags were accepted: the next problem is the checkpoint.
    expectOneLine(result, 1, /checkpoint not found/);
  });

  it('import says to quote a flags string the shell split into words', async () => {
    const split = ['--flags', '--image_size', '32', '--num_channels', '32', '--out', join(work, 'split')];
    const result = await runCli(['import', '--checkpoint', join(work, 'missing.pt'), ...split]);
    expectOneLine(result, 2, /--flags has no value \(--image_size is not an option of "import"\); quote/);
  });

  it('import names a --flags file that is neither JSON nor flags, and an --out that is a file', async () => {
    const args = ['import', '--checkpoint', join(work, 'missing.pt')];
    const flags = await runCli([...args, '--flags', png, '--out', join(work, 'imported')]);
    expectOneLine(flags, 1, new RegExp(`--flags ${png}: unexpected .* in flags`));
    const out = await runCli([...args, '--flags', '--image_size 32', '--out', png]);
    expectOneLine(out, 1, new RegExp(`--out ${png}: is a file`));
    const name = await runCli([...args, '--flags', '--image_size 32', '--out', join(work, 'named'), '--name', 'a/b']);
    expectOneLine(name, 2, /--name: "a\/b" is not a valid artifact name/);
  });
});

describe('toolchain help and fetch-model: bad input', () => {
  it("`toolchain help <command>` prints that command's help", async () => {
    const viaHelp = await runCli(['help', 'merge']);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toBe((await runCli(['merge', '--help'])).stdout);
    expect(viaHelp.stdout).toMatch(/^Usage: toolchain merge \[SHARDS\] \[options\]$/m);
  });

  it('fetch-model refuses a --url that is not http(s) before downloading', async () => {
    const args = ['fetch-model', 'cifar10', '--out', join(work, 'models')];
    expectOneLine(await runCli([...args, '--url', 'mirror.example/x.pt']), 2, /--url must be an http\(s\) URL/);
    expectOneLine(await runCli([...args, '--url', 'ftp://mirror.example/x.pt']), 2, /--url must be an http\(s\) URL/);
    expect(existsSync(join(work, 'models'))).toBe(false);
  });
});

describe('toolchain build-artifact: bad input', () => {
  it('exits 2 on a --wide-steps value, malformed or one the calibration respacing cannot take, before any work', async () => {
    const out = join(work, 'wide');
    const build = (...extra: string[]) =>
      runCli(['build-artifact', '--artifact', artifact, '--out', out, '--quiet', ...extra]);
    expectOneLine(await build('--wide-steps', '4'), 2, /--wide-steps: expected FIRST,LAST/);
    // Found only once the manifest's noise schedule is read: WideStepsError from the library, not the parser.
    const all = await build('--calib-steps', 'ddim8', '--wide-steps', '4,4');
    expectOneLine(all, 2, /--wide-steps 4,4: leaves no 8-bit step/);
    expect(existsSync(out)).toBe(false);
  });
});
