/**
 * Eigenvalues of a symmetric tridiagonal matrix by implicit QL with Wilkinson shifts; the plane rotations are logged
 * so the caller can apply them to eigenvectors in cache-friendly batches.
 */

const MAX_SWEEPS_PER_VALUE = 50;

/**
 * Plane rotations of the QL sweeps, recorded so they can be applied to the eigenvector matrix in one cache-friendly
 * pass per batch instead of one pass over the whole matrix per sweep. A sweep rotates index pairs
 * (top, top+1), (top-1, top), ... downwards.
 */
export class RotationLog {
  private readonly apply: (log: RotationLog) => void;
  tops: Int32Array = new Int32Array(1024);
  counts: Int32Array = new Int32Array(1024);
  cs: Float64Array = new Float64Array(2 * 65536); // c, s pairs
  sweeps = 0;
  rotations = 0;

  constructor(apply: (log: RotationLog) => void) {
    this.apply = apply;
  }

  beginSweep(top: number): void {
    if (this.sweeps === this.tops.length) {
      this.tops = grow(this.tops);
      this.counts = grow(this.counts);
    }
    this.tops[this.sweeps] = top;
    this.counts[this.sweeps] = 0;
    this.sweeps++;
  }

  push(c: number, s: number): void {
    if (2 * this.rotations === this.cs.length) {
      const cs = new Float64Array(this.cs.length * 2);
      cs.set(this.cs);
      this.cs = cs;
    }
    this.cs[2 * this.rotations] = c;
    this.cs[2 * this.rotations + 1] = s;
    this.rotations++;
    this.counts[this.sweeps - 1]++;
  }

  /** Flush when the buffer is full; called between sweeps so every recorded sweep is complete. */
  endSweep(): void {
    if (2 * this.rotations + 2 * 4096 > this.cs.length) this.flush();
  }

  flush(): void {
    if (this.rotations > 0) this.apply(this);
    this.sweeps = 0;
    this.rotations = 0;
  }

  /** Applies the recorded rotations to the columns of every row of z (row-major [n,n]). */
  applyToRows(z: Float64Array, n: number): void {
    let r = 0;
    for (; r + 4 <= n; r += 4) this.applyToFourRows(z, r * n, n);
    for (; r < n; r++) this.applyToRow(z, r * n);
  }

  private applyToRow(z: Float64Array, base: number): void {
    const { tops, counts, cs } = this;
    let q = 0;
    for (let w = 0; w < this.sweeps; w++) {
      const top = base + tops[w];
      const count = counts[w];
      let carry = z[top + 1];
      for (let t = 0; t < count; t++, q += 2) {
        const c = cs[q];
        const s = cs[q + 1];
        const zi = z[top - t];
        z[top - t + 1] = s * zi + c * carry;
        carry = c * zi - s * carry;
      }
      z[top - count + 1] = carry;
    }
  }

  // NOTE: each sweep is a serial chain through `carry`; four rows at once give the CPU four independent chains.
  private applyToFourRows(z: Float64Array, b0: number, n: number): void {
    const { tops, counts, cs } = this;
    const b1 = b0 + n;
    const b2 = b1 + n;
    const b3 = b2 + n;
    let q = 0;
    for (let w = 0; w < this.sweeps; w++) {
      const top = tops[w];
      const count = counts[w];
      let c0 = z[b0 + top + 1];
      let c1 = z[b1 + top + 1];
      let c2 = z[b2 + top + 1];
      let c3 = z[b3 + top + 1];
      for (let t = 0; t < count; t++, q += 2) {
        const c = cs[q];
        const s = cs[q + 1];
        const i = top - t;
        const z0 = z[b0 + i];
        const z1 = z[b1 + i];
        const z2 = z[b2 + i];
        const z3 = z[b3 + i];
        z[b0 + i + 1] = s * z0 + c * c0;
        z[b1 + i + 1] = s * z1 + c * c1;
        z[b2 + i + 1] = s * z2 + c * c2;
        z[b3 + i + 1] = s * z3 + c * c3;
        c0 = c * z0 - s * c0;
        c1 = c * z1 - s * c1;
        c2 = c * z2 - s * c2;
        c3 = c * z3 - s * c3;
      }
      const low = top - count + 1;
      z[b0 + low] = c0;
      z[b1 + low] = c1;
      z[b2 + low] = c2;
      z[b3 + low] = c3;
    }
  }
}

function grow(a: Int32Array): Int32Array {
  const out = new Int32Array(a.length * 2);
  out.set(a);
  return out;
}

/**
 * Implicit QL with Wilkinson shifts on the symmetric tridiagonal (d, e); d becomes the eigenvalues (unsorted).
 * The rotations go to `log` when eigenvectors are wanted. `eigenvalues` (sorted ascending), when known from a
 * first pass without vectors, replace each Wilkinson shift by the nearest of them: a near-perfect shift deflates in
 * about one sweep, which cuts the rotations to apply from ~0.85 n^2 to ~0.6 n^2.
 * NOTE: shifts only steer convergence; every sweep is an exact orthogonal similarity whatever the shift, so a poor
 * snap costs sweeps, never accuracy.
 */
export function tridiagonalQL(d: Float64Array, e: Float64Array, log?: RotationLog, eigenvalues?: Float64Array): void {
  const n = d.length;
  let norm = 0;
  for (let i = 0; i < n; i++) norm = Math.max(norm, Math.abs(d[i]) + Math.abs(e[i]));
  // NOTE: an off-diagonal counts as zero once it is below eps * |T| (EISPACK tql2's test), not eps times its two
  // diagonal neighbours: next to an eigenvalue near 0 that local test asks for more than rounding allows and the
  // sweeps stall. Eigenvalues come out with absolute error O(eps |T|), what the Householder step leaves anyway.
  const tiny = Number.EPSILON * norm;
  for (let l = 0; l < n; l++) {
    for (let sweep = 0; ; sweep++) {
      const m = splitPoint(e, l, tiny);
      if (m === l) break;
      if (sweep === MAX_SWEEPS_PER_VALUE) throw new Error(`symmetric eigen: QL did not converge at index ${l}`);
      qlSweep(d, e, l, m, log, eigenvalues);
    }
  }
}

/** The first m >= l whose off-diagonal e[m] is negligible (n-1 if none). */
function splitPoint(e: Float64Array, l: number, tiny: number): number {
  const n = e.length;
  let m = l;
  while (m < n - 1 && Math.abs(e[m]) > tiny) m++;
  return m;
}

/** One implicitly shifted QL step on the unreduced block l..m, chasing the bulge from m-1 up to l. */
function qlSweep(
  d: Float64Array,
  e: Float64Array,
  l: number,
  m: number,
  log?: RotationLog,
  eigenvalues?: Float64Array,
) {
  // Wilkinson shift: the eigenvalue of the leading 2x2 block [d[l] e[l]; e[l] d[l+1]] nearer to d[l].
  const theta = (d[l + 1] - d[l]) / (2 * e[l]);
  const root = Math.hypot(theta, 1);
  let shift = d[l] - e[l] / (theta + (theta >= 0 ? root : -root));
  if (eigenvalues) shift = nearest(eigenvalues, shift);
  let g = d[m] - shift;
  let s = 1;
  let c = 1;
  let p = 0;
  log?.beginSweep(m - 1);
  for (let i = m - 1; i >= l; i--) {
    const f = s * e[i];
    const b = c * e[i];
    const r = Math.hypot(f, g);
    e[i + 1] = r;
    if (r === 0) {
      // NOTE: an exact zero splits the block early; undo the pending shift and let the caller re-split.
      d[i + 1] -= p;
      e[m] = 0;
      log?.endSweep();
      return;
    }
    s = f / r;
    c = g / r;
    g = d[i + 1] - p;
    const t = (d[i] - g) * s + 2 * c * b;
    p = s * t;
    d[i + 1] = g + p;
    g = c * t - b;
    log?.push(c, s);
  }
  d[l] -= p;
  e[l] = g;
  e[m] = 0;
  log?.endSweep();
}

/** The entry of the ascending list nearest to x. */
function nearest(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < x) lo = mid;
    else hi = mid;
  }
  return Math.abs(sorted[lo] - x) <= Math.abs(sorted[hi] - x) ? sorted[lo] : sorted[hi];
}
