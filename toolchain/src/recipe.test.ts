import { describe, expect, it } from 'vitest';
import { DEFAULT_WIDE_STEPS } from './quantize/steps/wide-steps.ts';
import {
  DEFAULT_W8_BUDGET,
  RecipeError,
  recipeRecord,
  resolveRecipe,
  resolveRecipes,
  WIDE_STEPS_OFF,
} from './recipe.ts';

describe('resolveRecipe', () => {
  // The defaults per (wbits, abits, scheme): what `toolchain build-artifact` ships with no other flag.
  const table = [
    { w: 8, a: 8, scheme: 'full', recon: 'none', budget: 0, wide: DEFAULT_WIDE_STEPS, ends: 'float', softmax: 8 },
    { w: 4, a: 8, scheme: 'full', recon: 'gptq', budget: DEFAULT_W8_BUDGET, wide: null, ends: 'float', softmax: 8 },
    { w: 8, a: 16, scheme: 'full', recon: 'none', budget: 0, wide: null, ends: 'float', softmax: 16 },
    { w: 4, a: 16, scheme: 'full', recon: 'gptq', budget: DEFAULT_W8_BUDGET, wide: null, ends: 'float', softmax: 16 },
    { w: 8, a: 8, scheme: 'ptq4dm', recon: 'none', budget: 0, wide: DEFAULT_WIDE_STEPS, ends: 'quantized', softmax: 8 },
    {
      w: 4,
      a: 8,
      scheme: 'qdiff',
      recon: 'gptq',
      budget: DEFAULT_W8_BUDGET,
      wide: null,
      ends: 'quantized',
      softmax: 8,
    },
  ] as const;
  for (const row of table) {
    it(`W${row.w}A${row.a} ${row.scheme}: the shipped defaults, each with its reason`, () => {
      const r = resolveRecipe({ weightBits: row.w, activationBits: row.a, scheme: row.scheme });
      expect(r).toMatchObject({
        scheme: row.scheme,
        recon: row.recon,
        w8Budget: row.budget,
        wideSteps: row.wide,
        noiseCorrection: 'none',
        imageEnds: row.ends,
        softmaxBits: row.softmax,
        observer: { kind: 'lp' },
      });
      // Every setting came from the defaults, so every one says why.
      expect(Object.keys(r.defaults).sort()).toEqual(
        ['imageEnds', 'noiseCorrection', 'observer', 'recon', 'softmaxBits', 'w8Budget', 'wideSteps'].sort(),
      );
      for (const reason of Object.values(r.defaults)) expect(reason).toMatch(/\w{3,}/);
    });
  }

  it('defaults to the full scheme, as the CLI', () => {
    expect(resolveRecipe({ weightBits: 8, activationBits: 8 }).scheme).toBe('full');
  });

  it('keeps what the caller gave and gives no reason for it', () => {
    const r = resolveRecipe({
      weightBits: 4,
      activationBits: 8,
      recon: 'adaround',
      w8Budget: 0,
      wideSteps: { first: 2, last: 3 },
      noiseCorrection: 'ptqd',
      imageEnds: 'quantized',
      softmaxBits: 16,
      observer: { kind: 'minmax' },
    });
    expect(r).toMatchObject({
      recon: 'adaround',
      w8Budget: 0,
      wideSteps: { first: 2, last: 3 },
      noiseCorrection: 'ptqd',
      imageEnds: 'quantized',
      softmaxBits: 16,
      observer: { kind: 'minmax' },
    });
    expect(r.defaults).toEqual({});
    // 'auto' is the default; wide steps "off" resolve to none.
    expect(resolveRecipe({ weightBits: 4, activationBits: 8, recon: 'auto' }).recon).toBe('gptq');
    const off = resolveRecipe({ weightBits: 8, activationBits: 8, wideSteps: WIDE_STEPS_OFF });
    expect(off.wideSteps).toBeNull();
    expect(off.defaults.wideSteps).toBeUndefined();
    expect(recipeRecord(off).wideSteps).toBe('off');
  });

  it('refuses combinations that cannot be built', () => {
    expect(() => resolveRecipe({ weightBits: 8, activationBits: 8, w8Budget: 0.2 })).toThrow(RecipeError);
    expect(() => resolveRecipe({ weightBits: 8, activationBits: 8, w8Budget: 0.2 })).toThrow(/add --wbits 4/);
    expect(() => resolveRecipe({ weightBits: 4, activationBits: 8, w8Budget: 1.5 })).toThrow(/between 0 and 1/);
    expect(() => resolveRecipe({ weightBits: 4, activationBits: 8, w8Budget: Number.NaN })).toThrow(RecipeError);
    expect(() => resolveRecipe({ weightBits: 8, activationBits: 8, wideSteps: { first: -1, last: 2 } })).toThrow(
      /--wide-steps/,
    );
    // A budget of 0 on 8-bit weights asks for nothing: accepted.
    expect(resolveRecipe({ weightBits: 8, activationBits: 8, w8Budget: 0 }).w8Budget).toBe(0);
  });

  it('gives a budget to the 4-bit variants of a build and says why the 8-bit ones have none', () => {
    const [w8, w4] = resolveRecipes(
      [
        { weightBits: 8, activationBits: 8 },
        { weightBits: 4, activationBits: 8 },
      ],
      { w8Budget: 0.3 },
    );
    expect(w4.w8Budget).toBe(0.3);
    expect(w4.defaults.w8Budget).toBeUndefined();
    expect(w8.w8Budget).toBe(0);
    expect(w8.defaults.w8Budget).toMatch(/4-bit variants/);
    // A variant's own recon wins over the shared one.
    const [own] = resolveRecipes([{ weightBits: 8, activationBits: 8, recon: 'gptq' }], { recon: 'none' });
    expect(own.recon).toBe('gptq');
  });
});
