/**
 * Winograd minimal filtering F(m, r) matrices by the Toom-Cook construction: the correlation y_i = sum_j g_j d_(i+j)
 * (i < m, j < r) over a tile of alpha = m + r - 1 inputs is y = A^T [(G g) . (B^T d)]. Built from alpha - 1 finite
 * interpolation points plus the point at infinity, in float64; callers round to float32 once at the end.
 */

export interface WinogradMatrices {
  /** Output tile side m. */
  m: number;
  /** Filter side r. */
  r: number;
  /** Input tile side alpha = m + r - 1. */
  alpha: number;
  /** B^T, alpha x alpha (input transform). */
  bt: number[][];
  /** G, alpha x r (filter transform). */
  g: number[][];
  /** A^T, m x alpha (output transform). */
  at: number[][];
}

/**
 * Small points keep the transforms well conditioned in float32: F(2,3) uses 0, 1, -1; F(4,3) adds 1/2 and -1/2
 * (NOTE: +-2 instead of +-1/2 gives the same algebra but larger entries in A^T and more float32 rounding).
 */
export const WINOGRAD_POINTS: Record<number, number[]> = {
  2: [0, 1, -1],
  4: [0, 1, -1, 0.5, -0.5],
};

export function winogradMatrices(m: number, r: number, points: number[] = WINOGRAD_POINTS[m]): WinogradMatrices {
  const alpha = m + r - 1;
  if (!points || points.length !== alpha - 1) {
    throw new Error(`F(${m},${r}) needs ${alpha - 1} finite points, got ${points?.length ?? 0}`);
  }
  // Linear convolution s = g * x (x has m coefficients) by evaluation at the points and infinity:
  // A[k] evaluates x, G[k] evaluates g divided by f_k = prod_(l != k)(p_k - p_l), and column k of the
  // interpolation matrix C holds the coefficients of prod_(l != k)(x - p_l) (the infinity column: prod_l (x - p_l)).
  // Correlation is the transpose: y = A^T [(G g) . (C^T d)], so B^T = C^T.
  const at = Array.from({ length: m }, (_, i) => [...points.map((p) => p ** i), i === m - 1 ? 1 : 0]);
  const g = points.map((p, k) => {
    let f = 1;
    for (const [l, q] of points.entries()) if (l !== k) f *= p - q;
    return Array.from({ length: r }, (_, j) => p ** j / f);
  });
  g.push(Array.from({ length: r }, (_, j) => (j === r - 1 ? 1 : 0)));
  const bt = points.map((_, k) => padTo(polyFromRoots(points.filter((_, l) => l !== k)), alpha));
  bt.push(polyFromRoots(points));
  return { m, r, alpha, bt, g, at };
}

/** Coefficients (lowest degree first) of prod (x - root). */
function polyFromRoots(roots: number[]): number[] {
  let poly = [1];
  for (const root of roots) {
    const next = new Array(poly.length + 1).fill(0);
    for (const [i, c] of poly.entries()) {
      next[i + 1] += c;
      next[i] -= root * c;
    }
    poly = next;
  }
  return poly;
}

function padTo(values: number[], length: number): number[] {
  return [...values, ...new Array(length - values.length).fill(0)];
}

/** (G kron G)^T, [r^2, alpha^2]: row (r, s) of a 3x3 kernel to position (k, l) of G w G^T, = G[k][r] G[l][s]. */
export function kernelTransform(g: number[][]): number[][] {
  const alpha = g.length;
  const r = g[0].length;
  const rows: number[][] = [];
  for (let kr = 0; kr < r; kr++) {
    for (let ks = 0; ks < r; ks++) {
      const row: number[] = [];
      for (let k = 0; k < alpha; k++) for (let l = 0; l < alpha; l++) row.push(g[k][kr] * g[l][ks]);
      rows.push(row);
    }
  }
  return rows;
}

/**
 * Gather indices into the (size + 2)^2 pixels of a zero-padded square image: [(i, j), tile] = pixel (m ty + i,
 * m tx + j) of tile (ty, tx), for every element (i, j) of the (m + 2)^2 tile.
 */
export function tileGatherIndices(m: number, size: number): BigInt64Array {
  const alpha = m + 2;
  const side = size / m;
  const padded = size + 2;
  const out = new BigInt64Array(alpha * alpha * side * side);
  let n = 0;
  for (let i = 0; i < alpha; i++) {
    for (let j = 0; j < alpha; j++) {
      for (let ty = 0; ty < side; ty++) {
        for (let tx = 0; tx < side; tx++) out[n++] = BigInt((m * ty + i) * padded + m * tx + j);
      }
    }
  }
  return out;
}
