/**
 * The published improved-diffusion checkpoints qdm knows by name (openai/improved-diffusion README, "Models and
 * Hyperparameters"): the unconditional L_hybrid models with the cosine schedule.
 */

/** improved-diffusion command-line flags, snake_case as in its scripts (unset flags take its defaults). */
export type ImprovedDiffusionFlags = Record<string, string | number | boolean>;

export interface PublishedModel {
  name: string;
  description: string;
  url: string;
  file: string;
  /** Exact file size when known (not published); downloads then refuse anything else. */
  bytes?: number;
  sha256?: string;
  /** The README's MODEL_FLAGS and DIFFUSION_FLAGS. */
  flags: ImprovedDiffusionFlags;
  /** State-dict size of improved-diffusion's UNetModel built with these flags (counted with its own code). */
  tensors: number;
  parameters: number;
}

const BASE_URL = 'https://openaipublic.blob.core.windows.net/diffusion/march-2021';

export const PUBLISHED_MODELS = {
  cifar10: {
    name: 'cifar10',
    description: 'Unconditional CIFAR-10 32x32, L_hybrid objective, cosine schedule (52.5M parameters, 500K steps)',
    url: `${BASE_URL}/cifar10_uncond_50M_500K.pt`,
    file: 'cifar10_uncond_50M_500K.pt',
    flags: {
      image_size: 32,
      num_channels: 128,
      num_res_blocks: 3,
      learn_sigma: true,
      dropout: 0.3,
      diffusion_steps: 4000,
      noise_schedule: 'cosine',
    },
    tensors: 446,
    parameters: 52_546_438,
  },
  imagenet64: {
    name: 'imagenet64',
    description: 'Unconditional ImageNet 64x64, L_hybrid objective, cosine schedule (121M parameters, 1.5M steps)',
    url: `${BASE_URL}/imagenet64_uncond_100M_1500K.pt`,
    file: 'imagenet64_uncond_100M_1500K.pt',
    flags: {
      image_size: 64,
      num_channels: 128,
      num_res_blocks: 3,
      learn_sigma: true,
      diffusion_steps: 4000,
      noise_schedule: 'cosine',
    },
    tensors: 450,
    parameters: 121_063_942,
  },
} as const satisfies Record<string, PublishedModel>;

export type PublishedModelName = keyof typeof PUBLISHED_MODELS;

export function isPublishedModelName(name: string): name is PublishedModelName {
  return Object.hasOwn(PUBLISHED_MODELS, name);
}

/** The registry entry for `name`, or an error listing the known names. */
export function publishedModel(name: string): PublishedModel {
  if (!isPublishedModelName(name)) {
    throw new Error(`unknown model "${name}": known models are ${Object.keys(PUBLISHED_MODELS).join(', ')}`);
  }
  return PUBLISHED_MODELS[name];
}
