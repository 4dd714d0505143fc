/**
 * Checks a state_dict against the U-Net the flags describe, reporting every problem at once, and hands back
 * float32 tensors (float16/float64 checkpoints are widened/narrowed here).
 */
import type { Tensor } from '@qdm/shared';
import { formatShape } from '@qdm/shared';
import { CLIError } from '../errors.ts';

export interface MisshapedWeight {
  name: string;
  expected: number[];
  actual: number[];
}

export class UNetWeightsError extends CLIError {
  readonly missing: string[];
  readonly unexpected: string[];
  readonly misshaped: MisshapedWeight[];
  readonly badDtype: { name: string; dtype: string }[];

  constructor(
    missing: string[],
    unexpected: string[],
    misshaped: MisshapedWeight[],
    badDtype: { name: string; dtype: string }[],
    expectedCount = missing.length + misshaped.length + badDtype.length,
  ) {
    super(describeProblems(missing, unexpected, misshaped, badDtype, expectedCount));
    this.name = 'UNetWeightsError';
    this.missing = missing;
    this.unexpected = unexpected;
    this.misshaped = misshaped;
    this.badDtype = badDtype;
  }
}

const MAX_LISTED = 20;

function describeProblems(
  missing: string[],
  unexpected: string[],
  misshaped: MisshapedWeight[],
  badDtype: { name: string; dtype: string }[],
  expectedCount: number,
): string {
  if (missing.length === expectedCount && expectedCount > 0) {
    const found = unexpected.slice(0, 3).join(', ');
    return (
      `none of the ${expectedCount} tensors of the U-Net described by the flags are in the checkpoint ` +
      `(it holds ${unexpected.length}${found ? `: ${found}${unexpected.length > 3 ? ', ...' : ''}` : ''}); ` +
      'is it an improved-diffusion UNetModel state_dict?'
    );
  }
  const lines = [
    ...missing.map((n) => `missing ${n}`),
    ...unexpected.map((n) => `unexpected ${n}`),
    ...misshaped.map((m) => `wrong shape ${m.name}: ${formatShape(m.actual)}, expected ${formatShape(m.expected)}`),
    ...badDtype.map((b) => `unsupported dtype ${b.name}: ${b.dtype}`),
  ];
  const listed = lines.slice(0, MAX_LISTED);
  if (lines.length > MAX_LISTED) listed.push(`... and ${lines.length - MAX_LISTED} more`);
  return `the weights do not fit the U-Net described by the flags (${lines.length} problems):\n  ${listed.join('\n  ')}`;
}

/** Validates names, shapes and dtypes; returns the weights as float32 in `expected`'s order. */
export function checkUNetWeights(
  expected: Map<string, number[]>,
  weights: Map<string, Tensor>,
): Map<string, Tensor<Float32Array>> {
  const missing: string[] = [];
  const misshaped: MisshapedWeight[] = [];
  const badDtype: { name: string; dtype: string }[] = [];
  const out = new Map<string, Tensor<Float32Array>>();
  for (const [name, shape] of expected) {
    const tensor = weights.get(name);
    if (!tensor) {
      missing.push(name);
      continue;
    }
    if (tensor.shape.join() !== shape.join()) misshaped.push({ name, expected: shape, actual: tensor.shape });
    const data = toFloat32(tensor);
    if (!data) badDtype.push({ name, dtype: tensor.dtype });
    else out.set(name, { dtype: 'float32', shape: tensor.shape, data });
  }
  const unexpected = [...weights.keys()].filter((name) => !expected.has(name));
  if (missing.length + unexpected.length + misshaped.length + badDtype.length > 0) {
    throw new UNetWeightsError(missing, unexpected, misshaped, badDtype, expected.size);
  }
  return out;
}

function toFloat32(tensor: Tensor): Float32Array | undefined {
  const { data } = tensor;
  if (tensor.dtype === 'float32' && data instanceof Float32Array) return data;
  if (tensor.dtype === 'float64' && data instanceof Float64Array) return Float32Array.from(data);
  if (tensor.dtype === 'float16' && data instanceof Uint16Array) return Float32Array.from(data, halfToFloat);
  return undefined;
}

/** IEEE 754 binary16 bits to a number (exact). */
function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}
