// The generated documentation stays in step with what it is generated from: docs/cli.md with every command's
// --help, docs/results.md and README.md's results table with bench/results/*.json. `npm run docs` regenerates all
// three; these tests fail until it has been run after a help text or a bench result changed.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RESULTS_DIR, writeResult } from '../../bench/lib.ts';
import { loadResults, readmeWithGlance, renderResults } from '../../bench/report.ts';
import { CLI_REFERENCE, cliReference } from '../src/cli/reference.ts';
import { repoRoot } from './paths.ts';

const read = (path: string) => readFileSync(resolve(repoRoot, path), 'utf8');
const STALE = 'stale: run npm run docs and commit the result';

describe('generated docs', () => {
  it('docs/cli.md is every command’s --help as it is now', async () => {
    expect(readFileSync(CLI_REFERENCE, 'utf8') === (await cliReference()), `docs/cli.md is ${STALE}`).toBe(true);
  });

  it('docs/results.md is what bench/results/*.json give', () => {
    expect(read('docs/results.md') === renderResults(loadResults()), `docs/results.md is ${STALE}`).toBe(true);
  });

  it('README.md’s results table is what bench/results/*.json give', () => {
    const readme = read('README.md');
    expect(readme === readmeWithGlance(readme, loadResults()), `README.md's results table is ${STALE}`).toBe(true);
  });

  it('a changed figure in a bench JSON makes both stale', () => {
    const results = loadResults();
    const shipped = results.find((r) => r.name === 'fidelity-mnist32-shipped');
    expect(shipped, 'bench/results/fidelity-mnist32-shipped.json').toBeDefined();
    const variant = shipped?.json.variants.find((v: { variant: string }) => v.variant === 'w8+ship+early32:1+late32:4');
    variant.psnr.meanDb += 1;
    expect(renderResults(results)).not.toBe(read('docs/results.md'));
    expect(readmeWithGlance(read('README.md'), results)).not.toBe(read('README.md'));
  });

  it('every result file is cited in docs/results.md with its command, commit and machine', () => {
    const doc = read('docs/results.md');
    for (const { name, json } of loadResults()) {
      expect(doc, name).toContain(`## ${name}\n`);
      for (const field of ['command', 'commit', 'machine'])
        expect(json, `${name}.json: ${field}`).toHaveProperty(field);
    }
  });

  it('a bench run with non-default arguments never writes over the default run’s file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qdm-bench-'));
    try {
      expect(writeResult('fidelity-mnist32', { x: 1 }, { defaultRun: false })).toBeNull();
      expect(() =>
        writeResult(
          'fidelity-mnist32',
          { x: 1 },
          { defaultRun: false, out: join(RESULTS_DIR, 'fidelity-mnist32.json') },
        ),
      ).toThrow(/does not write .*fidelity-mnist32.json; pass --out another file/);
      const out = join(dir, 'mine.json');
      expect(writeResult('fidelity-mnist32', { x: 1 }, { defaultRun: false, out })).toBe(out);
      expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({ x: 1 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
