/**
 * Checks a state_dict against the FID Inception-v3, reporting every problem at once (the same checks as the
 * U-Net's, with an error that names the file the user should have passed).
 */
import type { Tensor } from '@qdm/shared';
import { formatShape } from '@qdm/shared';
import { CLIError } from '../errors.ts';
import { checkUNetWeights, type MisshapedWeight, UNetWeightsError } from './unet-weights.ts';

export const FID_WEIGHTS_FILE = 'pt_inception-2015-12-05-6726825d.pth';

export class InceptionWeightsError extends CLIError {
  readonly missing: string[];
  readonly unexpected: string[];
  readonly misshaped: MisshapedWeight[];
  readonly badDtype: { name: string; dtype: string }[];

  constructor(source: UNetWeightsError) {
    const lines = [
      ...source.missing.map((n) => `missing ${n}`),
      ...source.unexpected.map((n) => `unexpected ${n}`),
      ...source.misshaped.map(
        (m) => `wrong shape ${m.name}: ${formatShape(m.actual)}, expected ${formatShape(m.expected)}`,
      ),
      ...source.badDtype.map((b) => `unsupported dtype ${b.name}: ${b.dtype}`),
    ];
    super(
      `the weights are not pytorch-fid's FID Inception-v3 state_dict (${FID_WEIGHTS_FILE}), ` +
        `${lines.length} problems:\n  ${lines.join('\n  ')}`,
    );
    this.name = 'InceptionWeightsError';
    this.missing = source.missing;
    this.unexpected = source.unexpected;
    this.misshaped = source.misshaped;
    this.badDtype = source.badDtype;
  }
}

/**
 * Validates names, shapes and dtypes against `expected`; returns float32 tensors in `expected`'s order. BatchNorm
 * `num_batches_tracked` counters of expected BatchNorms are skipped (inference does not read them).
 */
export function checkInceptionWeights(
  expected: Map<string, number[]>,
  weights: Map<string, Tensor>,
): Map<string, Tensor<Float32Array>> {
  const relevant = new Map([...weights].filter(([name]) => !isBatchCounter(name, expected)));
  try {
    return checkUNetWeights(expected, relevant);
  } catch (error) {
    if (error instanceof UNetWeightsError) throw new InceptionWeightsError(error);
    throw error;
  }
}

function isBatchCounter(name: string, expected: Map<string, number[]>): boolean {
  const suffix = '.num_batches_tracked';
  return name.endsWith(suffix) && expected.has(`${name.slice(0, -suffix.length)}.running_mean`);
}
