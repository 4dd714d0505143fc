/**
 * The quantization recipe: every setting of a variant that has a default, resolved in one place from the variant's
 * widths and scheme plus what the caller gave explicitly. `toolchain build-artifact`, `toolchain demo`,
 * `buildArtifact()` given partial options and the benches that build variants all resolve here, so a bench
 * measures the recipe the CLI ships. The manifest records the result (`quantization.recipe`): each value, and for
 * each value the caller did not give, why the default is what it is.
 *
 * Where the defaults were measured: bench/results/recon-mnist32.json (reconstruction per width),
 * bench/results/fidelity-mnist32.json (mixed precision, PTQD), bench/results/fidelity-mnist32-shipped.json and
 * fidelity-mnist32-w4-wide.json (wide steps); the README's tables quote them.
 */
import type { RecipeSettings } from '@qdm/shared';
import { CLIError } from './errors.ts';
import type { ObserverSpec } from './quantize/observe/observers.ts';
import { SCHEMES, type Scheme } from './quantize/plan/plan.ts';
import { RECON_METHODS, type ReconMethod } from './quantize/reconstruct/reconstruct.ts';
import { DEFAULT_WIDE_STEPS, type WideSteps } from './quantize/steps/wide-steps.ts';

/** A combination of settings that cannot be built: a command-line mistake (the CLI exits 2 with the message). */
export class RecipeError extends CLIError {
  override name = 'RecipeError';
  constructor(message: string) {
    super(message, 2);
  }
}

/** The share of the weights a 4-bit variant keeps at 8 bits by default (mixed precision; 0 = off). */
export const DEFAULT_W8_BUDGET = 0.15;

/** What a caller may set; unset (undefined) takes the default for the variant's widths and scheme. */
export interface RecipeOverrides {
  /** 'auto' is the same as unset. */
  recon?: ReconMethod | 'auto';
  /** Share of the weights kept at 8 bits in a 4-bit variant, 0..1; 0 = off. */
  w8Budget?: number;
  /** Steps with float activations; {first: 0, last: 0} = off. */
  wideSteps?: WideSteps;
  noiseCorrection?: 'ptqd' | 'none';
  imageEnds?: 'float' | 'quantized';
  softmaxBits?: 8 | 16;
  observer?: ObserverSpec;
}

export interface VariantWidths {
  weightBits: 4 | 8;
  activationBits: 8 | 16;
}

export interface RecipeRequest extends VariantWidths, RecipeOverrides {
  /** Default 'full', the CLI's. */
  scheme?: Scheme;
}

export type RecipeSetting =
  | 'recon'
  | 'w8Budget'
  | 'wideSteps'
  | 'noiseCorrection'
  | 'imageEnds'
  | 'softmaxBits'
  | 'observer';

/** A fully resolved recipe; `defaults` says why each setting the caller did not give has its value. */
export interface Recipe extends VariantWidths {
  scheme: Scheme;
  recon: ReconMethod;
  /** 0 = every layer at the variant's weight bits. */
  w8Budget: number;
  /** null = every step on the variant's activation bits. */
  wideSteps: WideSteps | null;
  noiseCorrection: 'ptqd' | 'none';
  imageEnds: 'float' | 'quantized';
  softmaxBits: 8 | 16;
  observer: ObserverSpec;
  defaults: Partial<Record<RecipeSetting, string>>;
}

/** `--wide-steps off`: every step on the variant's activation bits. */
export const WIDE_STEPS_OFF: WideSteps = { first: 0, last: 0 };

function widths(r: VariantWidths): string {
  return `W${r.weightBits}A${r.activationBits}`;
}

/** The default of each setting for a variant, with the reason (the table the recipe test checks). */
export function recipeDefaults(request: VariantWidths & { scheme: Scheme }): {
  [K in RecipeSetting]: { value: Recipe[K]; reason: string };
} {
  const { weightBits: w, activationBits: a, scheme } = request;
  const w8a8 = w === 8 && a === 8;
  return {
    recon:
      w === 4
        ? {
            value: 'gptq',
            reason: 'gptq for 4-bit weights: measured best on mnist32 (bench/results/recon-mnist32.json)',
          }
        : { value: 'none', reason: 'none for 8-bit weights: nearest rounding, reconstruction measured no gain there' },
    w8Budget:
      w === 4
        ? {
            value: DEFAULT_W8_BUDGET,
            reason:
              'mixed precision for 4-bit weights: measured best on mnist32 within the 0.2x-of-fp32 size target ' +
              '(bench/results/fidelity-mnist32.json)',
          }
        : { value: 0, reason: 'off: mixed precision keeps 4-bit layers at 8 bits, and every layer is 8-bit here' },
    wideSteps: w8a8
      ? {
          value: DEFAULT_WIDE_STEPS,
          reason:
            'on for W8A8: measured best on mnist32 within 10% of the 8-bit step time ' +
            '(bench/results/fidelity-mnist32-shipped.json)',
        }
      : a === 16
        ? { value: null, reason: 'off: with 16-bit activations no step runs on the 8-bit ones wide steps replace' }
        : {
            value: null,
            reason:
              'off for 4-bit weights: they lift the variant over its 0.2x-of-fp32 size target ' +
              '(bench/results/fidelity-mnist32-w4-wide.json)',
          },
    noiseCorrection: {
      value: 'none',
      reason: 'none: PTQD measured no gain on mnist32 (bench/results/fidelity-mnist32.json)',
    },
    imageEnds:
      scheme === 'full'
        ? {
            value: 'float',
            reason: 'float for full: quantizing x_t and the epsilon output cost epsilon SQNR for about 1% of the work',
          }
        : { value: 'quantized', reason: `quantized for ${scheme}: as published` },
    softmaxBits: { value: a, reason: 'the activation bits' },
    observer: { value: { kind: 'lp' }, reason: 'lp: the L_p (p = 2.4) range search of PTQ4DM and Q-Diffusion' },
  };
}

function checkOverrides(o: RecipeOverrides): void {
  if (o.recon !== undefined && o.recon !== 'auto' && !RECON_METHODS.includes(o.recon)) {
    throw new RecipeError(`--recon must be one of ${[...RECON_METHODS, 'auto'].join(', ')}, got "${o.recon}"`);
  }
  if (o.w8Budget !== undefined && !(o.w8Budget >= 0 && o.w8Budget <= 1)) {
    throw new RecipeError(`--w8-budget must be a share of the weights between 0 and 1, got ${o.w8Budget}`);
  }
  const wide = o.wideSteps;
  if (wide && !(Number.isInteger(wide.first) && Number.isInteger(wide.last) && wide.first >= 0 && wide.last >= 0)) {
    throw new RecipeError(`--wide-steps: counts must be whole numbers >= 0, got ${wide.first},${wide.last}`);
  }
}

/** One variant's recipe; a setting that cannot apply to it (a budget on 8-bit weights) is a RecipeError. */
export function resolveRecipe(request: RecipeRequest): Recipe {
  const { weightBits, activationBits, ...shared } = request;
  return resolveRecipes([{ weightBits, activationBits }], shared)[0];
}

/**
 * The recipes of the variants one build makes from one calibration (`--wbits 8,4`), with the same overrides. A
 * budget applies to the 4-bit variants: with none among them it is a RecipeError, beside them the 8-bit ones say so.
 */
export function resolveRecipes(
  variants: readonly (VariantWidths & Pick<RecipeOverrides, 'recon' | 'wideSteps'>)[],
  shared: RecipeOverrides & { scheme?: Scheme },
): Recipe[] {
  const scheme = shared.scheme ?? 'full';
  if (!SCHEMES.includes(scheme))
    throw new RecipeError(`--scheme must be one of ${SCHEMES.join(', ')}, got "${scheme}"`);
  checkOverrides(shared);
  if (shared.w8Budget !== undefined && shared.w8Budget > 0 && !variants.some((v) => v.weightBits === 4)) {
    throw new RecipeError('--w8-budget applies to 4-bit weights: add --wbits 4');
  }
  return variants.map((v) => {
    // A variant's own recon or wide steps win over the shared ones.
    const overrides: RecipeOverrides = {
      ...shared,
      recon: v.recon ?? shared.recon,
      wideSteps: v.wideSteps ?? shared.wideSteps,
    };
    checkOverrides(overrides);
    const table = recipeDefaults({ ...v, scheme });
    const defaults: Recipe['defaults'] = {};
    const pick = <K extends RecipeSetting>(key: K, given: Recipe[K] | undefined): Recipe[K] => {
      if (given !== undefined) return given;
      defaults[key] = table[key].reason;
      return table[key].value;
    };
    const wide = overrides.wideSteps;
    let w8Budget: number;
    if (v.weightBits === 8 && overrides.w8Budget !== undefined) {
      w8Budget = 0;
      defaults.w8Budget = `off: --w8-budget applies to the 4-bit variants, this one is ${widths(v)}`;
    } else {
      w8Budget = pick('w8Budget', overrides.w8Budget);
    }
    return {
      scheme,
      weightBits: v.weightBits,
      activationBits: v.activationBits,
      recon: pick('recon', overrides.recon === 'auto' ? undefined : overrides.recon),
      w8Budget,
      wideSteps: pick('wideSteps', wide === undefined ? undefined : wide.first + wide.last > 0 ? wide : null),
      noiseCorrection: pick('noiseCorrection', overrides.noiseCorrection),
      imageEnds: pick('imageEnds', overrides.imageEnds),
      softmaxBits: pick('softmaxBits', overrides.softmaxBits),
      observer: pick('observer', overrides.observer),
      defaults,
    };
  });
}

/** The recipe as the manifest records it (`quantization.recipe`): plain JSON, wide steps off as "off". */
export function recipeRecord(recipe: Recipe): RecipeRecord {
  return {
    scheme: recipe.scheme,
    weightBits: recipe.weightBits,
    activationBits: recipe.activationBits,
    recon: recipe.recon,
    w8Budget: recipe.w8Budget,
    wideSteps: recipe.wideSteps ? { first: recipe.wideSteps.first, last: recipe.wideSteps.last } : ('off' as const),
    noiseCorrection: recipe.noiseCorrection,
    imageEnds: recipe.imageEnds,
    softmaxBits: recipe.softmaxBits,
    observer: recipe.observer,
    defaults: recipe.defaults,
  };
}

export type RecipeRecord = RecipeSettings;
