/** Wall time and peak resident memory of each phase of a build (the bench and the report show both). */
export interface PhaseRecord {
  name: string;
  seconds: number;
  peakRssMb: number;
}

export class PhaseClock {
  readonly phases: PhaseRecord[] = [];

  async run<T>(name: string, work: () => Promise<T>): Promise<T> {
    const start = performance.now();
    let peak = process.memoryUsage.rss();
    // RSS sampled while the phase runs: the peak of a phase, not of the whole process so far.
    const timer = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage.rss());
    }, 100);
    try {
      return await work();
    } finally {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage.rss());
      this.phases.push({ name, seconds: (performance.now() - start) / 1000, peakRssMb: peak / 2 ** 20 });
    }
  }
}
