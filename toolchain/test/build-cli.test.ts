import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseManifest } from '@qdm/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importMnist32, runCli } from './cli.ts';
import { type S3rverHandle, startS3rver } from './s3rver.ts';

const work = mkdtempSync(join(tmpdir(), 'qdm-build-'));
const fp32 = join(work, 'mnist32');
let s3: S3rverHandle;
// Small on purpose: this checks the wiring; quality is measured by bench/quantize-mnist.ts.
const quick = ['--calib-samples', '16', '--calib-trajectories', '4', '--calib-steps', 'ddim8', '--report-samples', '2'];

beforeAll(async () => {
  s3 = await startS3rver({ bucket: 'qdm' });
  await importMnist32(fp32);
});
afterAll(async () => {
  await s3?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** `toolchain build-artifact` from the fp32 mnist32 artifact into `out`. */
const buildInto = (out: string, ...extra: string[]) =>
  runCli(['build-artifact', '--artifact', fp32, '--out', out, ...extra]);
const manifestIn = (dir: string) => parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));

describe('toolchain build-artifact', () => {
  it('adds an int8 variant that runs on integer kernels, with a report, manifest last', async () => {
    const out = join(work, 'built');
    const result = await buildInto(out, ...quick, '--report-steps', 'ddim4', '--json');
    expect(result.code, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout);
    const manifest = manifestIn(out);
    const int8 = manifest.variants.int8;
    expect(int8.precision).toBe('w8a8');
    expect(int8.quantization?.scheme).toBe('full');
    expect(int8.quantization?.imageEnds).toBe('float');
    expect(int8.quantization?.keptFloat?.map((k) => k.name)).toContain('input_blocks.0.0');
    const integer = Object.values(int8.quantization?.integerNodes ?? {}).reduce((a, b) => a + b, 0);
    expect(integer).toBeGreaterThan(20);
    expect(int8.bytes).toBeLessThan(0.35 * manifest.variants.fp32.bytes);
    // The default recipe: the first and last 4 steps of the calibration respacing with float activations.
    expect(int8.quantization?.wideSteps).toMatchObject({ first: 1, last: 4, respacing: 'ddim8', activations: 'float' });
    expect(readFileSync(join(out, int8.file)).length).toBe(int8.bytes);
    // Pre-optimized graphs for the edge, beside each variant.
    for (const v of [int8, manifest.variants.fp32])
      expect(readFileSync(join(out, v.edgeGraph!.file)).length).toBe(v.edgeGraph!.bytes);
    expect(json.variants[0].psnrDb).toBeGreaterThan(15); // same-seed images, even from a tiny calibration
    expect(int8.report).toBe(manifest.report);
    const report = readFileSync(join(out, int8.report!), 'utf8');
    expect(report).toContain('input_blocks');
    expect(report).toContain('data:image/png;base64');
    // The input artifact is untouched when --out differs.
    expect(existsSync(join(fp32, 'model.int8.onnx'))).toBe(false);

    // A second build of another variant into the same artifact keeps the first build's report.
    const again = await runCli([
      'build-artifact',
      '--artifact',
      out,
      ...quick,
      '--scheme',
      'ptq4dm',
      '--variant-name',
      'int8-ptq4dm',
      '--quiet',
    ]);
    expect(again.code, again.stderr).toBe(0);
    const both = manifestIn(out);
    const ptq4dm = both.variants['int8-ptq4dm'];
    expect(both.report).toBe(ptq4dm.report);
    expect(ptq4dm.report).not.toBe(int8.report);
    expect(both.variants.int8.report).toBe(int8.report);
    expect(readFileSync(join(out, int8.report!), 'utf8')).toBe(report);
    expect(readFileSync(join(out, ptq4dm.report!), 'utf8')).toContain('ptq4dm');
  });

  it('--image-ends quantized puts the convs reading x_t and writing the output on integers too', async () => {
    const out = join(work, 'ends');
    const result = await buildInto(out, ...quick, '--image-ends', 'quantized', '--wide-steps', 'off');
    expect(result.code, result.stderr).toBe(0);
    const int8 = manifestIn(out).variants.int8;
    expect(int8.quantization?.wideSteps).toBeUndefined();
    expect(int8.quantization?.imageEnds).toBe('quantized');
    expect(int8.quantization?.keptFloat?.map((k) => k.name)).not.toContain('input_blocks.0.0');
  });

  it('publishes to S3 atomically and pull verifies it', async () => {
    const env = { ...s3.env, AWS_ENDPOINT_URL_S3: s3.endpoint };
    const built = await runCli(
      ['build-artifact', '--artifact', fp32, '--out', 's3://qdm/models', ...quick, '--quiet'],
      { env },
    );
    expect(built.code, built.stderr).toBe(0);
    const pulled = await runCli(
      ['pull', '--from', 's3://qdm/models', '--name', 'mnist32', '--to', join(work, 'pulled'), '--json'],
      {
        env,
      },
    );
    expect(pulled.code, pulled.stderr).toBe(0);
    const manifest = manifestIn(join(work, 'pulled'));
    expect(Object.keys(manifest.variants).sort()).toEqual(['fp32', 'int8']);
    const edge = manifest.variants.int8.edgeGraph!;
    expect(readFileSync(join(work, 'pulled', edge.file)).length).toBe(edge.bytes);
    // With the default wide steps, the 8-bit graph alone travels too (the edge loads it under a memory budget).
    const eightBit = edge.eightBitOnly!;
    expect(eightBit.file).toBe('model.int8.8bit.edge.ort');
    expect(readFileSync(join(work, 'pulled', eightBit.file)).length).toBe(eightBit.bytes);
  });

  it('keeps the built artifact when its upload fails, and says in one line how to publish it', async () => {
    // Nothing listens on port 9 (discard) of 127.0.0.1: the upload fails after all the build's work.
    const env = { ...s3.env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9', AWS_MAX_ATTEMPTS: '1' };
    const built = await runCli(
      ['build-artifact', '--artifact', fp32, '--out', 's3://qdm/models', ...quick, '--quiet'],
      {
        env,
      },
    );
    expect(built.code, built.stderr).toBe(1);
    const lines = built.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    const kept = /complete in (\S+): publish it with toolchain push --from \S+ --to s3:\/\/qdm\/models$/.exec(lines[0]);
    expect(kept, lines[0]).not.toBeNull();
    const dir = kept![1];
    try {
      expect(Object.keys(manifestIn(dir).variants).sort()).toEqual(['fp32', 'int8']);
      expect(existsSync(join(dir, 'model.int8.edge.ort'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);

  it('says what is wrong with the command line', async () => {
    const none = await runCli(['build-artifact']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--artifact DIR .* or --checkpoint/);
    const bits = await runCli(['build-artifact', '--artifact', fp32, '--wbits', '3']);
    expect(bits.code).toBe(2);
    expect(bits.stderr).toMatch(/--wbits must be one of 8, 4/);
    const ends = await runCli(['build-artifact', '--artifact', fp32, '--image-ends', 'int']);
    expect(ends.code).toBe(2);
    expect(ends.stderr).toMatch(/--image-ends must be one of float, quantized/);
    const tooMany = await runCli([
      'build-artifact',
      '--artifact',
      fp32,
      ...quick.slice(0, 4),
      '--calib-samples',
      '400',
    ]);
    expect(tooMany.code).toBe(1);
    expect(tooMany.stderr).toMatch(/trajectories/);
  });

  it('checks the command line before any work, and a failed build leaves no new folder behind', async () => {
    const out = join(work, 'never');
    const usage = async (extra: string[], message: RegExp) => {
      const result = await buildInto(out, ...extra);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    };
    await usage(['--calib-steps', 'ddimX'], /--calib-steps/);
    await usage(['--report-steps', 'ddim0'], /--report-steps/);
    await usage(['--calib-noise', 'data'], /--calib-noise data needs --calib-data/);
    await usage(['--calib-timesteps', 'normal', '--normal-std', '0'], /--normal-std must be >= /);
    await usage(['--wbits', '4', '--w8-budget', '1.5'], /--w8-budget must be <= 1/);
    await usage(['--w8-budget', '0.1'], /--w8-budget applies to 4-bit weights/);
    await usage(['--wbits', '4', '--w8-budget', '1e-9'], /--w8-budget 1e-9 cannot be met/);
    await usage(['--wide-steps', '4'], /--wide-steps: expected FIRST,LAST/);
    await usage(['--calib-steps', 'ddim8', '--wide-steps', '4,4'], /--wide-steps 4,4: leaves no 8-bit step/);
    const s3 = await buildInto('s3://', ...quick);
    expect(s3.code).toBe(1);
    expect(s3.stderr).not.toMatch(/calibration:/); // refused before the trajectories ran

    // Fails after the fp32 artifact was staged into the new folder (the calibration images do not exist).
    const failed = await buildInto(out, ...quick, '--calib-noise', 'data', '--calib-data', join(work, 'missing.npz'));
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/--calib-data .*missing\.npz: no such file/);
    expect(failed.stderr).not.toMatch(/internal error/);
    expect(existsSync(out)).toBe(false);
  });
});
