/**
 * The package as another project sees it: a scratch package outside the workspace that depends on
 * `@qdm/toolchain` by `file:` path (linked into its node_modules as npm links one), whose script imports only the
 * package's entry points, imports the trained mnist32 checkpoint and samples from it.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, sharedPath } from './paths.ts';

const scratch = mkdtempSync(join(tmpdir(), 'qdm-api-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const SCRIPT = `
import { importCheckpoint, loadFlags, sampleArtifact } from '@qdm/toolchain';
import { planQuantization, SCHEMES } from '@qdm/toolchain/quantize';
import { tinyUNet } from '@qdm/toolchain/testing';

const [checkpoint, flagsFile, outDir] = process.argv.slice(2);
const imported = await importCheckpoint({ checkpoint, flags: await loadFlags(flagsFile), outDir, name: 'scratch' });
const request = { seed: 5, steps: 'ddim4', eta: 0 };
const pair = await sampleArtifact(imported.outDir, { ...request, count: 2, batch: 2 });
// Sample 1 made alone: the seeded-noise contract says it is the second image of the pair.
const alone = await sampleArtifact(outDir, { ...request, firstSample: 1, count: 1, batch: 1 });
const size = pair.raw.length / 2;
let maxAbs = 0;
for (let i = 0; i < size; i++) maxAbs = Math.max(maxAbs, Math.abs(pair.raw[size + i] - alone.raw[i]));
let internal = 'reachable';
try {
  await import('@qdm/toolchain/src/quantize/plan/plan.ts');
} catch (error) {
  internal = error.code;
}
const plan = planQuantization(tinyUNet().graph, { scheme: 'full', weightBits: 8, activationBits: 8 });
console.log(JSON.stringify({
  name: imported.manifest.name,
  variants: Object.keys(pair.manifest.variants),
  shape: pair.shape,
  images: pair.images.length,
  distinct: new Set(pair.images).size,
  pairVsAlone: maxAbs,
  internal,
  schemes: SCHEMES,
  plannedWeights: plan.weights.length,
}));
`;

function run(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

describe('@qdm/toolchain from a package outside the workspace', () => {
  it('imports a checkpoint and samples through the entry points only', async () => {
    const toolchainDir = join(repoRoot, 'toolchain');
    writeFileSync(
      join(scratch, 'package.json'),
      JSON.stringify({
        name: 'qdm-api-scratch',
        private: true,
        type: 'module',
        dependencies: { '@qdm/toolchain': `file:${toolchainDir}` },
      }),
    );
    mkdirSync(join(scratch, 'node_modules/@qdm'), { recursive: true });
    symlinkSync(toolchainDir, join(scratch, 'node_modules/@qdm/toolchain'), 'dir');
    writeFileSync(join(scratch, 'main.ts'), SCRIPT);

    const out = join(scratch, 'artifact');
    const flags = sharedPath('models/mnist32/flags.json');
    const result = await run(['main.ts', sharedPath('models/mnist32/ema.pt'), flags, out], scratch);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
    expect(report.name).toBe('scratch');
    expect(report.variants).toContain('fp32');
    const [c, h, w] = report.shape;
    expect(report.images).toBe(2 * c * h * w);
    expect(report.distinct).toBeGreaterThan(16); // images, not a constant
    expect(report.pairVsAlone).toBeLessThan(1e-3);
    // The package's exports map is the whole surface: its source files are not importable by path.
    expect(report.internal).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    expect(report.schemes).toContain('full');
    expect(report.plannedWeights).toBeGreaterThan(10);
  });
});
