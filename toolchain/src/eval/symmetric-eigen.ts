/**
 * Eigen-decomposition of real symmetric matrices in float64: Householder reduction to tridiagonal form, then
 * implicit QL with Wilkinson shifts on the tridiagonal. Eigenvectors, when wanted, are the accumulated
 * reflectors times the accumulated plane rotations.
 */

import { tridiagonalize } from './householder.ts';
import { RotationLog, tridiagonalQL } from './tridiagonal-ql.ts';
import { accumulateReflectors } from './wy-block.ts';

export interface SymmetricEigen {
  /** Ascending. */
  values: Float64Array;
  /** Row-major [n,n]; column j is the unit eigenvector of values[j]. */
  vectors: Float64Array;
}

/** Eigenvalues (ascending) of the symmetric row-major [n,n] matrix `a` (only its lower triangle is read). */
export function symmetricEigenvalues(a: Float64Array, n: number): Float64Array {
  checkSquare(a, n);
  const { d, e } = tridiagonalize(Float64Array.from(a), n);
  tridiagonalQL(d, e);
  return d.sort();
}

/** Eigenvalues (ascending) and orthonormal eigenvectors of the symmetric matrix `a` (lower triangle read). */
export function symmetricEigen(a: Float64Array, n: number): SymmetricEigen {
  checkSquare(a, n);
  const work = Float64Array.from(a);
  const { d, e, tau } = tridiagonalize(work, n);
  // eigenvalues first (cheap without vectors), then the vector pass shifted by them: fewer rotations to apply
  const values = Float64Array.from(d);
  tridiagonalQL(values, Float64Array.from(e));
  values.sort();
  const q = accumulateReflectors(work, tau, n);
  const log = new RotationLog((rotations) => rotations.applyToRows(q, n));
  tridiagonalQL(d, e, log, values);
  log.flush();
  return sortedPairs(d, q, n);
}

function checkSquare(a: Float64Array, n: number): void {
  if (a.length !== n * n) throw new Error(`symmetric eigen: expected ${n}x${n} values, got ${a.length}`);
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]))
      throw new Error(`symmetric eigen: non-finite entry at (${Math.floor(i / n)}, ${i % n})`);
  }
}
/** Sorts eigenvalues ascending and permutes the eigenvector columns with them. */
function sortedPairs(d: Float64Array, z: Float64Array, n: number): SymmetricEigen {
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[x] - d[y]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let j = 0; j < n; j++) values[j] = d[order[j]];
  for (let r = 0; r < n; r++) {
    const row = r * n;
    for (let j = 0; j < n; j++) vectors[row + j] = z[row + order[j]];
  }
  return { values, vectors };
}
