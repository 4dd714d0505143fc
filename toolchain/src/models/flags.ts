/**
 * improved-diffusion's model and diffusion flags, from a flags.json object or a command line pasted from its
 * README (`MODEL_FLAGS="--image_size 32 --learn_sigma True"`). Missing flags take improved-diffusion's defaults
 * (script_util.model_and_diffusion_defaults); every value is validated with an error that names the flag.
 */
import { CLIError } from '../errors.ts';

export interface UNetFlags {
  imageSize: number;
  numChannels: number;
  numResBlocks: number;
  numHeads: number;
  /** -1 means numHeads, as in improved-diffusion. */
  numHeadsUpsample: number;
  /** Resolutions in pixels (the flag's values), e.g. [16, 8]; attention runs where imageSize/res = ds. */
  attentionResolutions: number[];
  /** From image_size (32 -> 1,2,2,2; 64 -> 1,2,3,4; 256 -> 1,1,2,2,4,4) unless given explicitly (qdm extension). */
  channelMult: number[];
  dropout: number;
  learnSigma: boolean;
  classCond: boolean;
  /** improved-diffusion's NUM_CLASSES (1000); used only when classCond. */
  numClasses: number;
  useScaleShiftNorm: boolean;
  useCheckpoint: boolean;
}

export type NoiseScheduleName = 'linear' | 'cosine';

/** The diffusion flags; a superset of @qdm/shared's DiffusionConfig. */
export interface DiffusionFlags {
  diffusionSteps: number;
  noiseSchedule: NoiseScheduleName;
  learnSigma: boolean;
  rescaleTimesteps: boolean;
  timestepRespacing: string;
  sigmaSmall: boolean;
  useKl: boolean;
  predictXstart: boolean;
  rescaleLearnedSigmas: boolean;
}

export type FlagValue = string | number | boolean;

export interface ImprovedDiffusionFlags {
  unet: UNetFlags;
  diffusion: DiffusionFlags;
  /** Every model/diffusion flag after defaults, snake_case as improved-diffusion spells it (for manifests). */
  flags: Record<string, FlagValue>;
}

export class FlagsError extends CLIError {
  readonly flag: string | undefined;

  constructor(message: string, flag?: string) {
    super(message);
    this.name = 'FlagsError';
    this.flag = flag;
  }
}

type Kind = 'int' | 'float' | 'bool' | 'string';

/** model_and_diffusion_defaults() of improved-diffusion's script_util.py. */
const DEFAULTS: Record<string, [Kind, FlagValue]> = {
  image_size: ['int', 64],
  num_channels: ['int', 128],
  num_res_blocks: ['int', 2],
  num_heads: ['int', 4],
  num_heads_upsample: ['int', -1],
  attention_resolutions: ['string', '16,8'],
  dropout: ['float', 0],
  learn_sigma: ['bool', false],
  sigma_small: ['bool', false],
  class_cond: ['bool', false],
  diffusion_steps: ['int', 1000],
  noise_schedule: ['string', 'linear'],
  timestep_respacing: ['string', ''],
  use_kl: ['bool', false],
  predict_xstart: ['bool', false],
  rescale_timesteps: ['bool', true],
  rescale_learned_sigmas: ['bool', true],
  use_checkpoint: ['bool', false],
  use_scale_shift_norm: ['bool', true],
};

/** Flags of improved-diffusion's train/sample scripts that do not shape the model: accepted and ignored. */
const SCRIPT_FLAGS = new Set([
  'data_dir',
  'schedule_sampler',
  'lr',
  'weight_decay',
  'lr_anneal_steps',
  'batch_size',
  'microbatch',
  'ema_rate',
  'log_interval',
  'save_interval',
  'resume_checkpoint',
  'use_fp16',
  'fp16_scale_growth',
  'clip_denoised',
  'num_samples',
  'use_ddim',
  'model_path',
]);

const CHANNEL_MULT_BY_SIZE: Record<number, number[]> = { 32: [1, 2, 2, 2], 64: [1, 2, 3, 4], 256: [1, 1, 2, 2, 4, 4] };
const NUM_CLASSES = 1000;

export function parseFlags(input: string | object): ImprovedDiffusionFlags {
  const given = typeof input === 'string' ? parseCommandLine(input) : objectFlags(input);
  const flags: Record<string, FlagValue> = {};
  for (const [name, [kind, fallback]] of Object.entries(DEFAULTS)) {
    flags[name] = name in given ? coerce(name, kind, given[name]) : fallback;
  }
  let channelMult: number[] | undefined;
  for (const name of Object.keys(given)) {
    if (name === 'channel_mult') channelMult = parseIntList('channel_mult', given[name]);
    else if (!(name in DEFAULTS) && !SCRIPT_FLAGS.has(name)) throw new FlagsError(`unknown flag --${name}`, name);
  }
  const unet = unetFlags(flags, channelMult);
  if (channelMult) flags.channel_mult = channelMult.join(',');
  return { unet, diffusion: diffusionFlags(flags), flags };
}

function unetFlags(flags: Record<string, FlagValue>, explicitMult: number[] | undefined): UNetFlags {
  const int = (name: string, min: number) => {
    const v = flags[name] as number;
    if (v < min) throw new FlagsError(`--${name} must be >= ${min}, got ${v}`, name);
    return v;
  };
  const imageSize = int('image_size', 1);
  const numChannels = int('num_channels', 1);
  const numHeadsUpsample = flags.num_heads_upsample as number;
  if (numHeadsUpsample !== -1 && numHeadsUpsample < 1) {
    throw new FlagsError(`--num_heads_upsample must be -1 or >= 1, got ${numHeadsUpsample}`, 'num_heads_upsample');
  }
  const dropout = flags.dropout as number;
  if (!(dropout >= 0 && dropout < 1)) throw new FlagsError(`--dropout must be in [0, 1), got ${dropout}`, 'dropout');
  const channelMult = explicitMult ?? CHANNEL_MULT_BY_SIZE[imageSize];
  if (!channelMult) {
    throw new FlagsError(`unsupported --image_size ${imageSize} (improved-diffusion knows 32, 64, 256)`, 'image_size');
  }
  const levels = 2 ** (channelMult.length - 1);
  if (imageSize % levels !== 0) {
    throw new FlagsError(
      `--image_size ${imageSize} is not divisible by ${levels} (one halving per level)`,
      'image_size',
    );
  }
  for (const mult of channelMult) {
    // NOTE: GroupNorm uses 32 groups, so every channel count must be a multiple of 32.
    if ((numChannels * mult) % 32 !== 0) {
      throw new FlagsError(
        `--num_channels ${numChannels} x channel multiplier ${mult} is not a multiple of 32 (GroupNorm groups)`,
        'num_channels',
      );
    }
  }
  const attention = flags.attention_resolutions as string;
  return {
    imageSize,
    numChannels,
    numResBlocks: int('num_res_blocks', 0),
    numHeads: int('num_heads', 1),
    numHeadsUpsample,
    attentionResolutions: attention.trim() === '' ? [] : parseIntList('attention_resolutions', attention),
    channelMult,
    dropout,
    learnSigma: flags.learn_sigma as boolean,
    classCond: flags.class_cond as boolean,
    numClasses: NUM_CLASSES,
    useScaleShiftNorm: flags.use_scale_shift_norm as boolean,
    useCheckpoint: flags.use_checkpoint as boolean,
  };
}

function diffusionFlags(flags: Record<string, FlagValue>): DiffusionFlags {
  const schedule = flags.noise_schedule;
  if (schedule !== 'linear' && schedule !== 'cosine') {
    throw new FlagsError(`--noise_schedule must be linear or cosine, got ${schedule}`, 'noise_schedule');
  }
  const steps = flags.diffusion_steps as number;
  if (steps < 1) throw new FlagsError(`--diffusion_steps must be >= 1, got ${steps}`, 'diffusion_steps');
  return {
    diffusionSteps: steps,
    noiseSchedule: schedule,
    learnSigma: flags.learn_sigma as boolean,
    rescaleTimesteps: flags.rescale_timesteps as boolean,
    timestepRespacing: flags.timestep_respacing as string,
    sigmaSmall: flags.sigma_small as boolean,
    useKl: flags.use_kl as boolean,
    predictXstart: flags.predict_xstart as boolean,
    rescaleLearnedSigmas: flags.rescale_learned_sigmas as boolean,
  };
}

function coerce(name: string, kind: Kind, value: unknown): FlagValue {
  const bad = () =>
    new FlagsError(
      `--${name} expects ${kind === 'int' ? 'an integer' : `a ${kind}`}, got ${JSON.stringify(value)}`,
      name,
    );
  switch (kind) {
    case 'int': {
      const n = typeof value === 'string' && /^\s*[-+]?\d+\s*$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw bad();
      return n;
    }
    case 'float': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n)) throw bad();
      return n;
    }
    case 'bool':
      return parseBool(value) ?? throwError(bad());
    case 'string':
      if (typeof value === 'string') return value;
      if (typeof value === 'number') return String(value);
      throw bad();
  }
}

/** improved-diffusion's str2bool, plus JSON booleans and 0/1. */
function parseBool(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 0 || value === 1) return value === 1;
  if (typeof value !== 'string') return undefined;
  const v = value.toLowerCase();
  if (['yes', 'true', 't', 'y', '1'].includes(v)) return true;
  if (['no', 'false', 'f', 'n', '0'].includes(v)) return false;
  return undefined;
}

function throwError(error: Error): never {
  throw error;
}

function parseIntList(name: string, value: unknown): number[] {
  const parts = Array.isArray(value)
    ? value
    : typeof value === 'string' || typeof value === 'number'
      ? String(value).split(',')
      : [];
  const list = parts.map((p) => (typeof p === 'string' ? p.trim() : p));
  if (list.length === 0 || list.some((p) => !/^\d+$/.test(String(p)) || Number(p) < 1)) {
    throw new FlagsError(`--${name} expects comma-separated positive integers, got ${JSON.stringify(value)}`, name);
  }
  return list.map(Number);
}

function objectFlags(input: object): Record<string, unknown> {
  if (input === null || Array.isArray(input)) throw new FlagsError('flags must be a JSON object or a flags string');
  return { ...(input as Record<string, unknown>) };
}

/**
 * `--name value` / `--name=value` pairs; shell-style quotes group words; `NAME="..."` assignments (as in the
 * README's MODEL_FLAGS="...") contribute their quoted flags.
 */
function parseCommandLine(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const tokens = tokenize(text);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    const assignment = /^[A-Za-z_][A-Za-z0-9_]*=([\s\S]*)$/.exec(token);
    if (assignment) {
      Object.assign(out, parseCommandLine(assignment[1]));
      continue;
    }
    if (!token.startsWith('--'))
      throw new FlagsError(`unexpected ${JSON.stringify(token)} in flags (expected --name value)`);
    const eq = token.indexOf('=');
    const name = (eq >= 0 ? token.slice(2, eq) : token.slice(2)).replaceAll('-', '_');
    if (name === '') throw new FlagsError(`empty flag name in ${JSON.stringify(token)}`);
    if (eq >= 0) out[name] = token.slice(eq + 1);
    else if (i + 1 < tokens.length && !tokens[i + 1].startsWith('--')) out[name] = tokens[++i];
    else throw new FlagsError(`--${name} has no value`, name);
  }
  return out;
}

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let inToken = false;
  let quote = '';
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = '';
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inToken = true;
    } else if (/\s/.test(ch) || ch === '\\') {
      // A backslash continues a shell line; treat it as a separator.
      if (inToken) tokens.push(current);
      current = '';
      inToken = false;
    } else {
      current += ch;
      inToken = true;
    }
  }
  if (quote) throw new FlagsError(`unbalanced ${quote} in flags`);
  if (inToken) tokens.push(current);
  return tokens;
}
