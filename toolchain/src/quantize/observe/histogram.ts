/**
 * A streaming histogram with bounded memory: a fixed number of equal bins over [lo, lo + bins*width] that
 * doubles its width (merging bin pairs exactly) whenever new data fall outside. Each bin also keeps the sum of
 * its values, so a bin can stand for its points by their mean (see `points`).
 */
export class StreamingHistogram {
  readonly bins: number;
  readonly counts: Float64Array;
  readonly sums: Float64Array;
  lo = 0;
  width = 0; // 0 until the first finite value
  count = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;

  constructor(bins = 4096) {
    if (bins < 2 || bins % 2 !== 0) throw new Error(`histogram bins must be even and >= 2, got ${bins}`);
    this.bins = bins;
    this.counts = new Float64Array(bins);
    this.sums = new Float64Array(bins);
  }

  get hi(): number {
    return this.lo + this.bins * this.width;
  }

  /**
   * Add values; non-finite values are skipped. `extremes`, when the caller already has the exact min/max of `x`
   * (onnxruntime reduces them beside each activation), saves a pass over the data.
   */
  add(x: ArrayLike<number>, extremes?: { min: number; max: number }): void {
    const { min: bmin, max: bmax } = extremes ?? valueRange(x);
    if (!Number.isFinite(bmin) || !Number.isFinite(bmax)) {
      this.addFiniteOnly(x);
      return;
    }
    this.cover(bmin, bmax);
    const { lo, bins, counts, sums } = this;
    const last = bins - 1;
    const inv = 1 / this.width;
    const count0 = counts[0];
    const sum0 = sums[0];
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      // NOTE: v >= lo, so truncation is floor; a NaN lands in bin 0 (repaired below).
      let k = ((v - lo) * inv) | 0;
      if (k > last) k = last;
      counts[k] += 1;
      sums[k] += v;
    }
    this.count += x.length;
    if (Number.isNaN(sums[0])) this.dropNaN(x, count0, sum0);
    this.min = Math.min(this.min, bmin);
    this.max = Math.max(this.max, bmax);
  }

  /** Recount bin 0 without the NaNs the binning loop put there (rare: only when the caller's extremes skip NaN). */
  private dropNaN(x: ArrayLike<number>, count0: number, sum0: number): void {
    const inv = 1 / this.width;
    let c = count0;
    let s = sum0;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      if (Number.isNaN(v)) {
        this.count--;
        continue;
      }
      if (((v - this.lo) * inv) | 0) continue; // not bin 0
      c += 1;
      s += v;
    }
    this.counts[0] = c;
    this.sums[0] = s;
  }

  /** Bin means and counts (empty bins have count 0): the weighted points the histogram stands for. */
  points(): { values: Float64Array; weights: Float64Array } {
    const values = new Float64Array(this.bins);
    for (let k = 0; k < this.bins; k++) {
      values[k] = this.counts[k] > 0 ? this.sums[k] / this.counts[k] : this.lo + (k + 0.5) * this.width;
    }
    return { values, weights: this.counts };
  }

  /**
   * The q-th percentile (0..100) with numpy's linear rule (rank q/100*(n-1)), locating ranks inside a bin by
   * linear interpolation between its edges; clamped to the exact min/max.
   */
  percentile(q: number): number {
    if (this.count === 0) throw new Error('percentile of an empty histogram');
    const rank = (q / 100) * (this.count - 1) + 0.5; // +0.5: a bin's i-th of c points sits at (i+0.5)/c
    let below = 0;
    for (let k = 0; k < this.bins; k++) {
      const c = this.counts[k];
      if (c > 0 && below + c >= rank) {
        const v = this.lo + (k + (rank - below) / c) * this.width;
        return Math.min(Math.max(v, this.min), this.max);
      }
      below += c;
    }
    return this.max;
  }

  private addFiniteOnly(x: ArrayLike<number>): void {
    const finite: number[] = [];
    for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i])) finite.push(x[i]);
    if (finite.length > 0) this.add(finite);
  }

  /** Grow (by exact doublings) until [bmin, bmax] is inside; the first call places the range around 0. */
  private cover(bmin: number, bmax: number): void {
    if (this.width === 0) {
      const lo = Math.min(bmin, 0);
      const span = Math.max(bmax, 0) - lo;
      this.lo = lo;
      // NOTE: a zero span (all zeros so far) starts tiny and doubles later; ~60 doublings reach any float range.
      this.width = (span > 0 ? span : 1e-12) / this.bins;
      return;
    }
    while (bmax > this.hi) this.doubleUp(); // a value equal to hi counts in the last bin
    while (bmin < this.lo) this.doubleDown();
  }

  private doubleUp(): void {
    const half = this.bins / 2;
    for (let j = 0; j < half; j++) this.merge(j, 2 * j);
    this.counts.fill(0, half);
    this.sums.fill(0, half);
    this.width *= 2;
  }

  private doubleDown(): void {
    const half = this.bins / 2;
    for (let j = this.bins - 1; j >= half; j--) this.merge(j, 2 * (j - half));
    this.counts.fill(0, 0, half);
    this.sums.fill(0, 0, half);
    this.lo -= this.bins * this.width;
    this.width *= 2;
  }

  private merge(to: number, from: number): void {
    this.counts[to] = this.counts[from] + this.counts[from + 1];
    this.sums[to] = this.sums[from] + this.sums[from + 1];
  }
}

function valueRange(x: ArrayLike<number>): { min: number; max: number } {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}
