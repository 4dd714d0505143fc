// Global setup of both vitest projects: one temporary folder per run for every fixture store (test processes
// inherit QDM_EDGE_TMP), removed when the run ends however the test processes exit.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'qdm-edge-run-'));
  process.env.QDM_EDGE_TMP = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
