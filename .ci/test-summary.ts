// Sums the vitest JSON reports that each workspace's `test` script writes (.vitest-report*.json) and prints
// one closing line, `N passed, N failed, N skipped`, so a log reader sees the whole suite's count at the end.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface VitestReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests?: number;
}

const root = join(import.meta.dirname, '..');
let passed = 0;
let failed = 0;
let skipped = 0;
const seen: string[] = [];
let matrix = '';
for (const pkg of ['shared', 'probe', 'toolchain', 'edge']) {
  const dir = join(root, pkg);
  for (const file of readdirSync(dir).filter((f) => /^\.vitest-report.*\.json$/.test(f))) {
    const report = JSON.parse(readFileSync(join(dir, file), 'utf8')) as VitestReport;
    passed += report.numPassedTests;
    failed += report.numFailedTests;
    skipped += report.numPendingTests + (report.numTodoTests ?? 0);
    seen.push(`${pkg}/${file}`);
    // The defaults matrix (edge/test/e2e): every recipe flag end to end, counted in the total and named apart.
    if (file === '.vitest-report.e2e.json') {
      matrix = ` (defaults matrix: ${report.numPassedTests} passed, ${report.numFailedTests} failed)`;
    }
  }
}
if (seen.length === 0) {
  console.error('test-summary: no vitest reports found (did the test scripts run?)');
  process.exit(1);
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped${matrix}`);
process.exit(failed > 0 ? 1 : 0);
