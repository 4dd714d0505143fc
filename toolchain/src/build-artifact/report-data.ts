/** The build's numbers in the shape report.html renders (see report/types.ts). */
import { encodePng, imageGrid, type Manifest } from '@qdm/shared';
import type { CalibrationSet } from '../calibrate/trajectory.ts';
import type { QuantizeReport } from '../quantize/pipeline.ts';
import type { QuantPlan } from '../quantize/plan/plan.ts';
import type { Recipe } from '../recipe.ts';
import type { BuildReport, SampleGrid } from '../report/types.ts';
import type { Device } from '../runtime/devices.ts';
import { placementSummary } from '../runtime/placement.ts';
import type { SampleResult } from '../sampling/run.ts';
import { layerActivationSqnr } from './layer-sqnr.ts';
import { CPU_ONLY_WORK, type PhaseRecord, phaseDevice } from './phases.ts';

/** What the report shows of a build's settings (a resolved BuildOptions has them all). */
export interface ReportSettings {
  reportSamples: number;
  observer: { kind: string };
  calibration: { policy: { kind: string }; trajectories: number; steps: string; noise: string };
  device?: Device;
}

export interface VariantBuild {
  /** The variant as build.ts resolved it (a ResolvedVariantSpec). */
  spec: { name: string; weightBits: number; activationBits: number; recipe: Recipe };
  file: string;
  bytes: number;
  report: QuantizeReport;
  /** The plan the variant was quantized with: which activation quantizer belongs to which layer. */
  plan: Pick<QuantPlan, 'weights' | 'scheme'>;
  samples?: SampleResult;
  psnr?: number[];
}

function grid(variant: string, samples: SampleResult, n: number, psnr?: number[]): SampleGrid {
  const [c, h, w] = samples.shape;
  const g = imageGrid(samples.images, n, h, w, c);
  return {
    variant,
    seeds: Array.from({ length: n }, (_, k) => k),
    gridPng: encodePng(g.data, g.width, g.height, c as 3),
    psnrDb: psnr,
  };
}

export function buildReportData(input: {
  manifest: Manifest;
  fp32Bytes: number;
  fp32Samples?: SampleResult;
  builds: VariantBuild[];
  calibration: CalibrationSet;
  options: ReportSettings;
  phases: PhaseRecord[];
}): BuildReport {
  const { manifest, builds, options } = input;
  const histogram = new Array<number>(Math.max(0, ...input.calibration.stepIndex) + 1).fill(0);
  for (const i of input.calibration.stepIndex) histogram[i]++;
  const first = builds[0]?.report;
  const samples: SampleGrid[] = [];
  if (input.fp32Samples) samples.push(grid('fp32', input.fp32Samples, options.reportSamples));
  for (const b of builds) if (b.samples) samples.push(grid(b.spec.name, b.samples, options.reportSamples, b.psnr));
  return {
    artifact: {
      name: manifest.name,
      createdAt: manifest.createdAt,
      parameters: manifest.model.parameters,
      imageSize: manifest.model.imageSize,
      flags: manifest.model.flags,
      checkpoint: manifest.model.checkpoint,
      toolchainVersion: manifest.toolchain?.version,
    },
    variants: [
      { name: 'fp32', file: manifest.variants.fp32.file, bytes: input.fp32Bytes, precision: 'fp32' },
      ...builds.map((b) => ({
        name: b.spec.name,
        file: b.file,
        bytes: b.bytes,
        precision: `w${b.spec.weightBits}a${b.spec.activationBits}`,
        scheme: b.report.scheme,
        weightBits: b.report.weightBits,
        activationBits: b.report.activationBits,
        recon: b.spec.recipe.recon,
        integerNodes: b.report.integerNodes,
        metrics: reportableMetrics(manifest.variants[b.spec.name]?.metrics),
      })),
    ],
    calibration: {
      policy: options.calibration.policy.kind,
      samples: input.calibration.count,
      trajectories: options.calibration.trajectories,
      steps: options.calibration.steps,
      noise: options.calibration.noise,
      observer: options.observer.kind,
      stepHistogram: histogram,
    },
    layers: builds.flatMap((b) => {
      const activation = layerActivationSqnr(b.plan, b.report.activations);
      return b.report.layers.map((l) => ({
        variant: b.spec.name,
        name: l.node,
        kind: l.kind,
        weightSqnrDb: finite(l.weightSqnrDb),
        activationSqnrDb: activation.get(l.node)?.db,
        reconBefore: l.errorNearest,
        reconAfter: l.error,
      }));
    }),
    activationRanges: first
      ? Object.entries(first.rangesByStep).map(([site, r]) => {
          const steps: number[] = [];
          const min: number[] = [];
          const max: number[] = [];
          r.min.forEach((v, i) => {
            if (v === null || r.max[i] === null) return;
            steps.push(i);
            min.push(v);
            max.push(r.max[i] as number);
          });
          return { site, steps, min, max };
        })
      : [],
    stepSqnr: builds.map((b) => {
      const step: number[] = [];
      const sqnrDb: number[] = [];
      b.report.epsilonSqnrByStep.forEach((v, i) => {
        if (v !== null && Number.isFinite(v)) {
          step.push(i);
          sqnrDb.push(v);
        }
      });
      const wide = b.report.wideSteps;
      return { variant: b.spec.name, step, sqnrDb, ...(wide ? { wideSteps: wide } : {}) };
    }),
    samples,
    keptFloat: builds.flatMap((b) =>
      b.report.keptFloat.map((k) => ({ variant: b.spec.name, name: k.name, reason: k.reason })),
    ),
    phases: input.phases.map((p) => ({
      name: `${p.name} (${phaseDevice(p.name, options.device ?? 'cpu')})`,
      seconds: p.seconds,
      peakRssMb: p.peakRssMb,
    })),
    metrics: deviceMetrics(options.device ?? 'cpu'),
  };
}

function finite(v: number): number | undefined {
  return Number.isFinite(v) ? v : undefined;
}

/** The report's device lines: where the build ran, the nodes its EP left to the CPU, and what stays on the CPU. */
function deviceMetrics(device: Device): Record<string, string | number> {
  if (device === 'cpu') return { device: 'cpu' };
  const p = placementSummary(device);
  const ops = Object.entries(p.cpuOps).map(([op, n]) => `${op} ${n}`);
  return {
    device,
    'nodes left to the CPU provider': `${p.nodesNotOnDevice} of ${p.nodes} (${p.sessions} sessions)${ops.length ? `: ${ops.join(', ')}` : ''}`,
    'on the CPU whatever --device says': CPU_ONLY_WORK.join('; '),
  };
}

/** The manifest's numbers and strings of a variant's metrics (size ratio, same-seed PSNR, mean epsilon SQNR). */
function reportableMetrics(metrics: Record<string, unknown> | undefined): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const [key, value] of Object.entries(metrics ?? {})) {
    if (typeof value === 'number' || typeof value === 'string') out[key] = value;
  }
  return out;
}
