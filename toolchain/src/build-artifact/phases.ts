import type { Device } from '../runtime/devices.ts';

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

/**
 * What a build runs on the CPU provider even with --device cuda|webgpu: integer kernels (QLinearConv, ...) exist
 * only there, so everything that must measure the integer model, or inspect its fusion, stays on it.
 */
export const CPU_ONLY_WORK = [
  'fusion check and edge graphs (onnxruntime CPU graph optimizations decide the integer kernels)',
  "quantized variants' sample grids and epsilon SQNR (the CPU's integer kernels: the model the edge serves)",
  'activation SQNR of the QDQ graph (the quantized side of the comparison)',
  'layer-wise reconstruction (many small per-segment sessions and float64 Gram matrices on the CPU)',
];

/** Which device a build phase ran on: fp32 work on the device, quantized/integer work on the CPU. */
export function phaseDevice(phase: string, device: Device): Device | 'mixed' {
  if (device === 'cpu' || phase === 'load' || phase === 'upload') return 'cpu';
  if (phase === 'trajectories' || phase === 'samples fp32') return device;
  if (phase.startsWith('quantize ')) return 'mixed';
  return 'cpu';
}
