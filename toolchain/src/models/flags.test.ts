import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sharedPath } from '../../test/paths.ts';
import { FlagsError, parseFlags } from './flags.ts';

// The CIFAR-10 flags exactly as improved-diffusion's README lists them.
const CIFAR_README = `MODEL_FLAGS="--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True --dropout 0.3"
DIFFUSION_FLAGS="--diffusion_steps 4000 --noise_schedule cosine"
TRAIN_FLAGS="--lr 1e-4 --batch_size 128"`;

function flagsError(input: string | object): FlagsError {
  try {
    parseFlags(input);
  } catch (e) {
    if (e instanceof FlagsError) return e;
    throw e;
  }
  throw new Error('expected a FlagsError');
}

describe('parseFlags', () => {
  it('reads the README block for the CIFAR-10 model, with defaults for the rest', () => {
    const { unet, diffusion } = parseFlags(CIFAR_README);
    expect(unet).toEqual({
      imageSize: 32,
      numChannels: 128,
      numResBlocks: 3,
      numHeads: 4,
      numHeadsUpsample: -1,
      attentionResolutions: [16, 8],
      channelMult: [1, 2, 2, 2],
      dropout: 0.3,
      learnSigma: true,
      classCond: false,
      numClasses: 1000,
      useScaleShiftNorm: true,
      useCheckpoint: false,
    });
    expect(diffusion).toEqual({
      diffusionSteps: 4000,
      noiseSchedule: 'cosine',
      learnSigma: true,
      rescaleTimesteps: true,
      timestepRespacing: '',
      sigmaSmall: false,
      useKl: false,
      predictXstart: false,
      rescaleLearnedSigmas: true,
    });
  });

  it('reads a bare flags string with str2bool spellings and --name=value', () => {
    const { unet, diffusion, flags } = parseFlags(
      '--image_size 64 --class_cond 1 --use_scale_shift_norm f --learn_sigma=yes --rescale_timesteps False ' +
        '--num_heads_upsample -1 --timestep_respacing ""',
    );
    expect(unet.channelMult).toEqual([1, 2, 3, 4]);
    expect([unet.classCond, unet.useScaleShiftNorm, unet.learnSigma]).toEqual([true, false, true]);
    expect(diffusion.rescaleTimesteps).toBe(false);
    expect(diffusion.timestepRespacing).toBe('');
    expect(flags.image_size).toBe(64);
  });

  it('reads the mnist32 flags.json object', () => {
    const json = JSON.parse(readFileSync(sharedPath('models/mnist32/flags.json'), 'utf8'));
    const { unet, diffusion } = parseFlags(json);
    // Values from ../shared/models/mnist32/README.md.
    expect(unet).toMatchObject({
      imageSize: 32,
      numChannels: 32,
      numResBlocks: 1,
      attentionResolutions: [16],
      numHeads: 4,
      learnSigma: true,
      useScaleShiftNorm: true,
      dropout: 0.1,
    });
    expect(diffusion).toMatchObject({ diffusionSteps: 1000, noiseSchedule: 'cosine', rescaleTimesteps: true });
  });

  it('takes an explicit channel_mult (string or array) for small models', () => {
    expect(parseFlags('--image_size 16 --num_channels 32 --channel_mult 1,2').unet.channelMult).toEqual([1, 2]);
    const { unet, flags } = parseFlags({ image_size: 8, num_channels: 32, channel_mult: [1, 2, 2] });
    expect(unet.channelMult).toEqual([1, 2, 2]);
    expect(flags.channel_mult).toBe('1,2,2');
  });

  it('ignores the training/sampling script flags', () => {
    expect(() => parseFlags('--model_path x.pt --use_ddim True --batch_size 16 --image_size 32')).not.toThrow();
  });

  it('names the flag in every error', () => {
    expect(flagsError('--image_szie 32').flag).toBe('image_szie');
    expect(flagsError('--learn_sigma maybe').message).toMatch(/--learn_sigma expects a bool/);
    expect(flagsError({ num_channels: 12.5 }).flag).toBe('num_channels');
    expect(flagsError('--image_size 48').message).toMatch(/unsupported --image_size 48/);
    expect(flagsError('--image_size 32 --num_channels 48').flag).toBe('num_channels');
    expect(flagsError('--noise_schedule quadratic').flag).toBe('noise_schedule');
    expect(flagsError('--dropout 1.5').flag).toBe('dropout');
    expect(flagsError('--attention_resolutions 16,x').flag).toBe('attention_resolutions');
    expect(flagsError('--num_heads').message).toMatch(/--num_heads has no value/);
    expect(flagsError('--image_size 20 --num_channels 32 --channel_mult 1,2,2,2').flag).toBe('image_size');
    expect(flagsError('image_size 32').message).toMatch(/unexpected "image_size"/);
  });
});
