/**
 * Respacing: which of the T original diffusion steps a shorter sampler visits, exactly as improved-diffusion's
 * `space_timesteps` chooses them (the same strings as its `--timestep_respacing` flag).
 */

const DDIM_SPACING = /^ddim(\d+)$/;
const SECTION_SPACING = /^\d+(,\d+)*$/;

/**
 * Kept original steps, ascending. spacing:
 * - `"250"` or `250`: one section, `(T-1)/(n-1)` fractional stride, each index rounded half-to-even like Python.
 * - `"10,20,30"`: T split into equal sections (the first `T % n` one step longer), each strided as above.
 * - `"ddim50"`: the DDIM paper's integer stride from 0, the first stride giving exactly that many steps
 *   (it need not divide T: T=1000, "ddim3" takes 0, 334, 668).
 * - `""` or undefined: all T steps.
 * Throws an Error naming the spacing when it is malformed or cannot be realised.
 */
export function spaceTimesteps(diffusionSteps: number, spacing: string | number | undefined): number[] {
  checkDiffusionSteps(diffusionSteps);
  if (spacing === undefined) return allSteps(diffusionSteps);
  if (typeof spacing === 'number') return sectionSteps(diffusionSteps, [checkCount(spacing, spacing)], spacing);
  const compact = spacing.replace(/\s+/g, '');
  if (compact === '') return allSteps(diffusionSteps);
  const ddim = DDIM_SPACING.exec(compact);
  if (ddim) return ddimSteps(diffusionSteps, Number(ddim[1]), spacing);
  if (!SECTION_SPACING.test(compact)) {
    throw new Error(`invalid timestep respacing "${spacing}": expected "ddimN", "N" or comma-separated counts`);
  }
  return sectionSteps(diffusionSteps, compact.split(',').map(Number), spacing);
}

function checkDiffusionSteps(diffusionSteps: number): void {
  if (!Number.isInteger(diffusionSteps) || diffusionSteps < 1) {
    throw new Error(`diffusion steps must be a positive integer, got ${diffusionSteps}`);
  }
}

function checkCount(count: number, spacing: string | number): number {
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new Error(`invalid timestep respacing ${JSON.stringify(spacing)}: step count must be a positive integer`);
  }
  return count;
}

function allSteps(diffusionSteps: number): number[] {
  return Array.from({ length: diffusionSteps }, (_, i) => i);
}

/** Stride s keeps ceil(T/s) steps; improved-diffusion tries s = 1..T-1 and takes the first exact match. */
function ddimSteps(diffusionSteps: number, count: number, spacing: string): number[] {
  for (let stride = 1; stride < diffusionSteps; stride++) {
    if (Math.ceil(diffusionSteps / stride) === count) {
      return Array.from({ length: count }, (_, i) => i * stride);
    }
  }
  throw new Error(
    `invalid timestep respacing "${spacing}": no integer stride takes exactly ${count} of ${diffusionSteps} steps`,
  );
}

function sectionSteps(diffusionSteps: number, counts: number[], spacing: string | number): number[] {
  const sizePer = Math.floor(diffusionSteps / counts.length);
  const extra = diffusionSteps % counts.length;
  const kept = new Set<number>();
  let start = 0;
  counts.forEach((count, section) => {
    const size = sizePer + (section < extra ? 1 : 0);
    if (size < count) {
      throw new Error(
        `invalid timestep respacing ${JSON.stringify(spacing)}: cannot divide a section of ${size} steps into ${count}`,
      );
    }
    const stride = count <= 1 ? 1 : (size - 1) / (count - 1);
    // NOTE: the fractional index accumulates by repeated addition, as in Python, so rounding sees the same doubles.
    let position = 0;
    for (let k = 0; k < count; k++) {
      kept.add(start + roundHalfEven(position));
      position += stride;
    }
    start += size;
  });
  if (kept.size === 0) throw new Error(`invalid timestep respacing ${JSON.stringify(spacing)}: keeps no steps`);
  return [...kept].sort((a, b) => a - b);
}

// NOTE: Python 3's round() sends halves to the even neighbour (round(4.5) == 4); Math.round would give 5.
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest !== 0.5) return rest < 0.5 ? floor : floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * Normalise a user's steps value to a respacing string for `createDiffusion`.
 * - A number N is a step count: `"ddimN"` (DDIM's integer stride, what improved-diffusion uses for DDIM
 *   sampling) when some integer stride keeps exactly N of the T steps, otherwise `"N"` (evenly rounded stride).
 *   Without `diffusionSteps` a number always becomes `"ddimN"`.
 * - A string is a respacing spec as improved-diffusion reads `--timestep_respacing`: `"ddim25"`, `"250"`
 *   (one evenly strided section, NOT the DDIM stride), `"10,20,30"`, or `""` for all steps. Whitespace is
 *   dropped, `DDIM` may be upper case, leading zeros go.
 * With `diffusionSteps` the result is checked to keep between 2 and T steps (a sampler needs at least 2).
 * Throws an Error naming the value otherwise.
 */
export function parseSteps(value: string | number, diffusionSteps?: number): string {
  const spacing = typeof value === 'number' ? countToSpacing(value, diffusionSteps) : normaliseSpacing(value);
  if (diffusionSteps !== undefined) {
    const kept = spaceTimesteps(diffusionSteps, spacing);
    if (spacing !== '' && kept.length < 2) {
      throw new Error(`invalid steps ${JSON.stringify(value)}: a sampler needs at least 2 steps, this keeps 1`);
    }
  }
  return spacing;
}

function countToSpacing(count: number, diffusionSteps: number | undefined): string {
  if (!Number.isSafeInteger(count) || count < 2) {
    throw new Error(`invalid steps ${count}: expected an integer of at least 2`);
  }
  if (diffusionSteps === undefined) return `ddim${count}`;
  checkDiffusionSteps(diffusionSteps);
  if (count > diffusionSteps) {
    throw new Error(`invalid steps ${count}: the model has only ${diffusionSteps} diffusion steps`);
  }
  try {
    ddimSteps(diffusionSteps, count, `ddim${count}`);
    return `ddim${count}`;
  } catch {
    return String(count);
  }
}

function normaliseSpacing(value: string): string {
  const compact = value.replace(/\s+/g, '').toLowerCase();
  if (compact === '') return '';
  const ddim = DDIM_SPACING.exec(compact);
  if (ddim) return `ddim${checkCount(Number(ddim[1]), value)}`;
  if (!SECTION_SPACING.test(compact)) {
    throw new Error(`invalid steps "${value}": expected "ddimN", "N" or comma-separated counts like "10,20,30"`);
  }
  return compact
    .split(',')
    .map((part) => String(checkCount(Number(part), value)))
    .join(',');
}
