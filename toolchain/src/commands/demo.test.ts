import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { serveCommand } from './demo.ts';

describe('demo: how to serve what it wrote', () => {
  const repo = resolve(import.meta.dirname, '../../..');
  it('is the plain serve script for the repository artifacts/ folder', () => {
    expect(serveCommand(join(repo, 'artifacts', 'mnist32'))).toBe('npm run serve');
  });
  it('points QDM_ARTIFACTS at the folder holding an artifact written elsewhere', () => {
    expect(serveCommand('/tmp/demo-out/mnist32')).toBe('QDM_ARTIFACTS=/tmp/demo-out npm run serve');
  });
});
