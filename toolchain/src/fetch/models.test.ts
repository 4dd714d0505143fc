import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../test/paths.ts';
import { PUBLISHED_MODELS, publishedModel } from './models.ts';

/** Written by toolchain/test/fixtures/fetch/generate.py from improved-diffusion's README and model code. */
const reference: Record<string, { file: string; url: string; flags: object; tensors: number; parameters: number }> =
  JSON.parse(readFileSync(resolve(repoRoot, 'toolchain/test/fixtures/fetch/published-models.json'), 'utf8'));

describe('published model registry', () => {
  it.each(Object.keys(reference))('%s matches the improved-diffusion README and model', (name) => {
    const model = publishedModel(name);
    const { file, url, flags, tensors, parameters } = reference[name];
    expect({ file: model.file, url: model.url, flags: model.flags }).toEqual({ file, url, flags });
    expect({ tensors: model.tensors, parameters: model.parameters }).toEqual({ tensors, parameters });
  });

  it('holds exactly cifar10 and imagenet64', () => {
    expect(Object.keys(PUBLISHED_MODELS).sort()).toEqual(Object.keys(reference).sort());
  });

  it('names the known models for an unknown name', () => {
    expect(() => publishedModel('lsun')).toThrow('unknown model "lsun": known models are cifar10, imagenet64');
    expect(() => publishedModel('toString')).toThrow(/unknown model/);
  });
});
