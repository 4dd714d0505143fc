/**
 * The orthogonal factor Q of the Householder reduction, accumulated from its reflectors in compact WY blocks.
 */

const BLOCK = 32; // reflectors applied together as one block (I - V T V^T)

/**
 * Q = H_0 H_1 ... H_{n-3} from the reflectors left by `tridiagonalize` (row-major [n,n]), built backwards in blocks
 * of 32 reflectors: each block is the compact WY form I - V T V^T (T upper triangular), so Q is read and written
 * once per block rather than twice per reflector.
 */
export function accumulateReflectors(a: Float64Array, tau: Float64Array, n: number): Float64Array {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  const work = { v: new Float64Array(n * BLOCK), t: new Float64Array(BLOCK * BLOCK), w: new Float64Array(BLOCK * n) };
  for (let end = n - 2; end > 0; end -= BLOCK) applyReflectorBlock(q, a, tau, n, Math.max(0, end - BLOCK), end, work);
  return q;
}

interface BlockWork {
  v: Float64Array; // [m, nb]: column j is reflector k0 + j on indices k0+1.., zero above its unit entry
  t: Float64Array; // [nb, nb] upper triangular
  w: Float64Array; // [nb, m]
}

/** Q[off.., off..] <- H_k0 ... H_{k1-1} Q[off.., off..] with off = k0 + 1. */
function applyReflectorBlock(
  q: Float64Array,
  a: Float64Array,
  tau: Float64Array,
  n: number,
  k0: number,
  k1: number,
  { v, t, w }: BlockWork,
): void {
  const nb = k1 - k0;
  const off = k0 + 1;
  const m = n - off;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < nb; j++) {
      const k = k0 + j;
      v[i * nb + j] = tau[k] === 0 || i < j ? 0 : i === j ? 1 : a[k * n + off + i];
    }
  }
  blockFactor(v, tau, k0, nb, m, t);
  // W = V^T Q[off.., off..]
  w.fill(0, 0, nb * m);
  let i = 0;
  for (; i + 3 < m; i += 4) accumulateW(w, v, q, n, off, m, nb, i);
  for (; i < m; i++) {
    const row = (off + i) * n + off;
    for (let j = 0; j < nb && j <= i; j++) {
      const vij = v[i * nb + j];
      const wRow = j * m;
      for (let c = 0; c < m; c++) w[wRow + c] += vij * q[row + c];
    }
  }
  // W <- T W, row by row from the top: row x only needs rows y >= x
  for (let x = 0; x < nb; x++) {
    const wx = x * m;
    const txx = t[x * nb + x];
    for (let c = 0; c < m; c++) w[wx + c] *= txx;
    for (let y = x + 1; y < nb; y++) {
      const txy = t[x * nb + y];
      if (txy === 0) continue;
      const wy = y * m;
      for (let c = 0; c < m; c++) w[wx + c] += txy * w[wy + c];
    }
  }
  // Q[off.., off..] -= V W
  let r = 0;
  for (; r + 1 < m; r += 2) updateQ(q, v, w, n, off, m, nb, r, 2);
  if (r < m) updateQ(q, v, w, n, off, m, nb, r, 1);
}

// NOTE: the two kernels below are 2 x 4 register blocks (as in linalg.multiply): every pass over a row reads four
// rows of the other operand once for two output rows, about twice the speed of one row at a time in V8.

/** W[j..] += sum over Q rows i..i+3 of V[i][j] Q[i], two W rows per pass. */
function accumulateW(
  w: Float64Array,
  v: Float64Array,
  q: Float64Array,
  n: number,
  off: number,
  m: number,
  nb: number,
  i: number,
): void {
  const row0 = (off + i) * n + off;
  const row1 = row0 + n;
  const row2 = row1 + n;
  const row3 = row2 + n;
  const last = Math.min(nb, i + 4); // V[i][j] = 0 for j > i
  for (let j = 0; j < last; j += 2) {
    const pair = j + 1 < last;
    const x0 = v[i * nb + j];
    const x1 = v[(i + 1) * nb + j];
    const x2 = v[(i + 2) * nb + j];
    const x3 = v[(i + 3) * nb + j];
    const y0 = pair ? v[i * nb + j + 1] : 0;
    const y1 = pair ? v[(i + 1) * nb + j + 1] : 0;
    const y2 = pair ? v[(i + 2) * nb + j + 1] : 0;
    const y3 = pair ? v[(i + 3) * nb + j + 1] : 0;
    const w0 = j * m;
    const w1 = pair ? w0 + m : w0;
    if (!pair) {
      for (let c = 0; c < m; c++)
        w[w0 + c] += x0 * q[row0 + c] + x1 * q[row1 + c] + x2 * q[row2 + c] + x3 * q[row3 + c];
      continue;
    }
    for (let c = 0; c < m; c++) {
      const q0 = q[row0 + c];
      const q1 = q[row1 + c];
      const q2 = q[row2 + c];
      const q3 = q[row3 + c];
      w[w0 + c] += x0 * q0 + x1 * q1 + x2 * q2 + x3 * q3;
      w[w1 + c] += y0 * q0 + y1 * q1 + y2 * q2 + y3 * q3;
    }
  }
}

/** Q rows r..r+rows-1 -= V[r..] W, four W rows per pass. */
function updateQ(
  q: Float64Array,
  v: Float64Array,
  w: Float64Array,
  n: number,
  off: number,
  m: number,
  nb: number,
  r: number,
  rows: 1 | 2,
): void {
  const q0 = (off + r) * n + off;
  const q1 = q0 + n;
  const last = Math.min(nb, r + rows); // V[r][j] = 0 for j > r
  let j = 0;
  for (; j + 3 < last; j += 4) {
    const w0 = j * m;
    const w1 = w0 + m;
    const w2 = w1 + m;
    const w3 = w2 + m;
    const x0 = v[r * nb + j];
    const x1 = v[r * nb + j + 1];
    const x2 = v[r * nb + j + 2];
    const x3 = v[r * nb + j + 3];
    if (rows === 1) {
      for (let c = 0; c < m; c++) q[q0 + c] -= x0 * w[w0 + c] + x1 * w[w1 + c] + x2 * w[w2 + c] + x3 * w[w3 + c];
      continue;
    }
    const y0 = v[(r + 1) * nb + j];
    const y1 = v[(r + 1) * nb + j + 1];
    const y2 = v[(r + 1) * nb + j + 2];
    const y3 = v[(r + 1) * nb + j + 3];
    for (let c = 0; c < m; c++) {
      const u0 = w[w0 + c];
      const u1 = w[w1 + c];
      const u2 = w[w2 + c];
      const u3 = w[w3 + c];
      q[q0 + c] -= x0 * u0 + x1 * u1 + x2 * u2 + x3 * u3;
      q[q1 + c] -= y0 * u0 + y1 * u1 + y2 * u2 + y3 * u3;
    }
  }
  for (; j < last; j++) {
    const wj = j * m;
    const x0 = v[r * nb + j];
    for (let c = 0; c < m; c++) q[q0 + c] -= x0 * w[wj + c];
    if (rows === 2) {
      const y0 = v[(r + 1) * nb + j];
      for (let c = 0; c < m; c++) q[q1 + c] -= y0 * w[wj + c];
    }
  }
}

/** T of the compact WY form: H_k0 ... H_{k0+nb-1} = I - V T V^T (LAPACK's dlarft, forward, columnwise). */
function blockFactor(v: Float64Array, tau: Float64Array, k0: number, nb: number, m: number, t: Float64Array): void {
  t.fill(0, 0, nb * nb);
  const overlap = new Float64Array(nb);
  for (let j = 0; j < nb; j++) {
    const tj = tau[k0 + j];
    t[j * nb + j] = tj;
    if (tj === 0 || j === 0) continue;
    // overlap[x] = v_x . v_j for x < j (v_j is zero above row j)
    overlap.fill(0, 0, j);
    for (let i = j; i < m; i++) {
      const vij = v[i * nb + j];
      for (let x = 0; x < j; x++) overlap[x] += v[i * nb + x] * vij;
    }
    // T[0:j, j] = -tau_j T[0:j, 0:j] overlap
    for (let x = 0; x < j; x++) {
      let sum = 0;
      for (let y = x; y < j; y++) sum += t[x * nb + y] * overlap[y];
      t[x * nb + j] = -tj * sum;
    }
  }
}
