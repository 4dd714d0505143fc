/**
 * Signal-to-quantization-noise ratio, 10*log10(sum x^2 / sum (x - x^)^2) in dB: the per-tensor score used to
 * compare a quantized layer's (or model's) output with the float reference. Infinite when they are equal.
 */
export function sqnrDb(reference: ArrayLike<number>, test: ArrayLike<number>): number {
  const acc = new SqnrAccumulator();
  acc.add(reference, test);
  return acc.db();
}

/** Streams over batches: sums signal and noise energy, so the result is the SQNR of everything added. */
export class SqnrAccumulator {
  signal = 0;
  noise = 0;

  add(reference: ArrayLike<number>, test: ArrayLike<number>): void {
    if (reference.length !== test.length) throw new Error(`sqnr: ${reference.length} vs ${test.length} values`);
    for (let i = 0; i < reference.length; i++) {
      const d = reference[i] - test[i];
      this.signal += reference[i] * reference[i];
      this.noise += d * d;
    }
  }

  db(): number {
    if (this.noise === 0) return this.signal === 0 ? Number.NaN : Number.POSITIVE_INFINITY;
    return 10 * Math.log10(this.signal / this.noise);
  }
}
