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
  // W = V^T Q[off.., off..], four Q rows per pass over a W row
  w.fill(0, 0, nb * m);
  let i = 0;
  for (; i + 3 < m; i += 4) {
    const row0 = (off + i) * n + off;
    const row1 = row0 + n;
    const row2 = row1 + n;
    const row3 = row2 + n;
    for (let j = 0; j < nb && j <= i + 3; j++) {
      const v0 = v[i * nb + j];
      const v1 = v[(i + 1) * nb + j];
      const v2 = v[(i + 2) * nb + j];
      const v3 = v[(i + 3) * nb + j];
      const wRow = j * m;
      for (let c = 0; c < m; c++) {
        w[wRow + c] += v0 * q[row0 + c] + v1 * q[row1 + c] + v2 * q[row2 + c] + v3 * q[row3 + c];
      }
    }
  }
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
  // Q[off.., off..] -= V W, four reflectors per pass over the Q row
  for (let r = 0; r < m; r++) {
    const row = (off + r) * n + off;
    const last = Math.min(nb, r + 1);
    const vr = r * nb;
    let j = 0;
    for (; j + 3 < last; j += 4) {
      const v0 = v[vr + j];
      const v1 = v[vr + j + 1];
      const v2 = v[vr + j + 2];
      const v3 = v[vr + j + 3];
      const w0 = j * m;
      const w1 = w0 + m;
      const w2 = w1 + m;
      const w3 = w2 + m;
      for (let c = 0; c < m; c++) q[row + c] -= v0 * w[w0 + c] + v1 * w[w1 + c] + v2 * w[w2 + c] + v3 * w[w3 + c];
    }
    for (; j < last; j++) {
      const v0 = v[vr + j];
      const w0 = j * m;
      for (let c = 0; c < m; c++) q[row + c] -= v0 * w[w0 + c];
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
