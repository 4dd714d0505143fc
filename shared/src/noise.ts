/**
 * Seeded Gaussian noise from a counter-based generator (Philox4x32-10, Salmon et al. 2011, as in Random123).
 * Every value is a pure function of (seed, sample index, stream, element index), so a sample's noise does not
 * depend on the batch it is made in, the runtime, or the order of calls.
 *
 * Layout: key = (seed low 32 bits, seed high bits); counter = (element block, sample index, stream, 0). One
 * Philox block gives 4 uint32 words, turned by Box-Muller into 4 normals: elements 4b..4b+3 come from block b.
 */

/** Stream of the starting noise x_T; the noise added at respaced step i uses stream i. */
export const INIT_NOISE_STREAM = 0xffffffff;

const PHILOX_M0 = 0xd2511f53;
const PHILOX_M1 = 0xcd9e8d57;
const PHILOX_W0 = 0x9e3779b9;
const PHILOX_W1 = 0xbb67ae85;
const TWO_POW_32 = 4294967296;
const MAX_U32 = 0xffffffff;

// The multipliers split into 16-bit halves: a 32x16-bit product stays below 2^48, exact in a double.
const M0_LO = PHILOX_M0 & 0xffff;
const M0_HI = PHILOX_M0 >>> 16;
const M1_LO = PHILOX_M1 & 0xffff;
const M1_HI = PHILOX_M1 >>> 16;

/** High 32 bits of the 64-bit product a * (mHi * 2^16 + mLo), without BigInt. */
function mulHi(a: number, mLo: number, mHi: number): number {
  return Math.floor((a * mHi + Math.floor((a * mLo) / 65536)) / 65536);
}

/**
 * Philox4x32 with `rounds` rounds (10 is the standard), written into `out[offset..offset+3]`.
 * All inputs are uint32 values.
 */
function philoxBlock(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  rounds: number,
  out: Uint32Array,
  offset: number,
): void {
  for (let r = 0; r < rounds; r++) {
    if (r > 0) {
      k0 = (k0 + PHILOX_W0) >>> 0;
      k1 = (k1 + PHILOX_W1) >>> 0;
    }
    const hi0 = mulHi(c0, M0_LO, M0_HI);
    const lo0 = Math.imul(c0, PHILOX_M0) >>> 0;
    const hi1 = mulHi(c2, M1_LO, M1_HI);
    const lo1 = Math.imul(c2, PHILOX_M1) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  out[offset] = c0;
  out[offset + 1] = c1;
  out[offset + 2] = c2;
  out[offset + 3] = c3;
}

/** One Philox4x32 block: counter [4] and key [2] uint32 words -> 4 uint32 words (exported for known answers). */
export function philox4x32(counter: readonly number[], key: readonly number[], rounds = 10): Uint32Array {
  const words = [...counter, ...key];
  if (counter.length !== 4 || key.length !== 2 || !words.every(isUint32)) {
    throw new Error('philox4x32 needs a counter of 4 and a key of 2 uint32 words');
  }
  const out = new Uint32Array(4);
  philoxBlock(counter[0], counter[1], counter[2], counter[3], key[0], key[1], rounds, out, 0);
  return out;
}

function isUint32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= MAX_U32;
}

function checkArguments(seed: number, sampleIndex: number, stream: number, count: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new Error(`noise seed must be a non-negative safe integer, got ${seed}`);
  }
  if (!isUint32(sampleIndex)) throw new Error(`noise sample index must be a uint32, got ${sampleIndex}`);
  if (!isUint32(stream)) throw new Error(`noise stream must be a uint32, got ${stream}`);
  if (!Number.isInteger(count) || count < 0 || count / 4 > TWO_POW_32) {
    throw new Error(`noise element count must be a non-negative integer below 2^34, got ${count}`);
  }
}

/** Standard normal float32 noise for ONE sample: pure function of (seed, sampleIndex, stream, element index). */
export function gaussianNoise(seed: number, sampleIndex: number, stream: number, count: number): Float32Array {
  checkArguments(seed, sampleIndex, stream, count);
  const out = new Float32Array(count);
  fillGaussian(out, 0, seed, sampleIndex, stream, count);
  return out;
}

/** [count, elementsPerSample] for samples firstSample..firstSample+count-1, same values as gaussianNoise per sample. */
export function batchNoise(
  seed: number,
  firstSample: number,
  count: number,
  elementsPerSample: number,
  stream: number,
): Float32Array {
  checkArguments(seed, firstSample, stream, elementsPerSample);
  if (!Number.isInteger(count) || count < 0 || !isUint32(firstSample + Math.max(count - 1, 0))) {
    throw new Error(`noise samples ${firstSample}..${firstSample + count - 1} are outside the uint32 range`);
  }
  const out = new Float32Array(count * elementsPerSample);
  for (let k = 0; k < count; k++) {
    fillGaussian(out, k * elementsPerSample, seed, firstSample + k, stream, elementsPerSample);
  }
  return out;
}

// NOTE: uniforms are (u + 0.5) / 2^32, strictly inside (0, 1), so log never sees 0; the largest |z| is ~6.7.
// Box-Muller runs in float64 and rounds once to float32. Math.log/cos/sin are not guaranteed correctly rounded
// by the JS spec; V8 (Node, workerd, Chrome) uses one port of fdlibm, so they agree bit for bit there.
function fillGaussian(
  out: Float32Array,
  offset: number,
  seed: number,
  sampleIndex: number,
  stream: number,
  count: number,
): void {
  const k0 = seed >>> 0;
  const k1 = Math.floor(seed / TWO_POW_32) >>> 0;
  const words = new Uint32Array(4);
  const scale = 1 / TWO_POW_32;
  const twoPi = 2 * Math.PI;
  const blocks = Math.ceil(count / 4);
  for (let b = 0; b < blocks; b++) {
    philoxBlock(b, sampleIndex, stream, 0, k0, k1, 10, words, 0);
    const base = offset + 4 * b;
    const r0 = Math.sqrt(-2 * Math.log((words[0] + 0.5) * scale));
    const a0 = twoPi * ((words[1] + 0.5) * scale);
    const r1 = Math.sqrt(-2 * Math.log((words[2] + 0.5) * scale));
    const a1 = twoPi * ((words[3] + 0.5) * scale);
    const left = count - 4 * b;
    out[base] = r0 * Math.cos(a0);
    if (left > 1) out[base + 1] = r0 * Math.sin(a0);
    if (left > 2) out[base + 2] = r1 * Math.cos(a1);
    if (left > 3) out[base + 3] = r1 * Math.sin(a1);
  }
}
