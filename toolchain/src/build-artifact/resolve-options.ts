/**
 * `buildArtifact()`'s options with every recipe setting resolved (toolchain/src/recipe.ts): what a caller left
 * unset takes the default the CLI ships, so a bench calling the library builds the same recipe as
 * `toolchain build-artifact` with the same flags. Each variant carries its recipe for the manifest.
 */
import type { ObserverSpec } from '../quantize/observe/observers.ts';
import { type Recipe, resolveRecipes } from '../recipe.ts';
import type { BuildOptions, VariantSpec } from './build.ts';

export type ResolvedVariantSpec = VariantSpec & { recipe: Recipe };

export interface ResolvedBuildOptions extends BuildOptions {
  variants: ResolvedVariantSpec[];
  observer: ObserverSpec;
  w8Budget: number;
  noiseCorrection: 'ptqd' | 'none';
}

/** Throws RecipeError (a usage error) before any work when the settings cannot be combined. */
export function resolveBuildOptions(options: BuildOptions): ResolvedBuildOptions {
  // A variant's own recon and wide steps win; the build's recon applies to every variant without one.
  const recipes = resolveRecipes(options.variants, {
    scheme: options.scheme,
    recon: options.recon,
    w8Budget: options.w8Budget,
    noiseCorrection: options.noiseCorrection,
    imageEnds: options.imageEnds,
    softmaxBits: options.softmaxBits,
    observer: options.observer,
  });
  const first = recipes[0];
  return {
    ...options,
    variants: options.variants.map((spec, k) => ({
      ...spec,
      recon: recipes[k].recon,
      wideSteps: recipes[k].wideSteps ?? undefined,
      recipe: recipes[k],
    })),
    scheme: first?.scheme ?? options.scheme,
    // The 4-bit variants' budget (the same for all of them); 8-bit variants never use it.
    w8Budget: recipes.find((r) => r.weightBits === 4)?.w8Budget ?? 0,
    noiseCorrection: first?.noiseCorrection ?? options.noiseCorrection ?? 'none',
    imageEnds: first?.imageEnds ?? options.imageEnds,
    observer: first?.observer ?? options.observer ?? { kind: 'lp' },
    // Per variant it defaults to its activation bits; the plan applies that same default when unset.
    softmaxBits: recipes.every((r) => r.softmaxBits === first?.softmaxBits) ? first?.softmaxBits : options.softmaxBits,
  };
}
