import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (two levels above this file). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * `../shared` beside the repository: trained models, MNIST and the design notes. Never copied into the repo;
 * override with QDM_SHARED.
 */
export const sharedDir = process.env.QDM_SHARED ?? resolve(repoRoot, '../shared');

export function sharedPath(...parts: string[]): string {
  const path = resolve(sharedDir, ...parts);
  if (!existsSync(path)) throw new Error(`missing ${path}: set QDM_SHARED to the shared/ folder beside the repo`);
  return path;
}
