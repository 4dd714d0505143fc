/**
 * How close quantized variants of the trained mnist32 model stay to fp32, with each technique on and off.
 * W8A8 and W4A8 of the `full` scheme: PTQD noise correction (`ptqd`), mixed-precision W4A8 (`w8` = share of
 * the weights kept at 8 bits, layers chosen by output sensitivity), GPTQ reconstruction (`gptq`), time-step-grouped
 * activation scales (`gN` = one graph per group of respaced steps) and wide steps (`late16:K` / `early16:K` = the
 * last K steps, t nearest 0, / the first K, noisiest, run a W8A16 graph: the same integer weights, 16-bit
 * activations as build-artifact's `--abits 16`, ranges observed on those steps' pairs; `late32:K` / `early32:K`:
 * the same integer weights with float activations; early and late steps of one width share one graph; with `gN`
 * the 8-bit steps between them are split into N groups). Groups and wide steps are simulated by switching graphs
 * by step, except with `ship`: `w8+ship+early32:1+late32:4` is the form build-artifact ships (`--wide-steps 1,4`),
 * one graph whose If on t picks the branch (the toolchain's wide-steps.ts), timed at an 8-bit and a wide t.
 *
 * Per variant: same-seed PSNR vs fp32 (uint8, DDIM 50, eta 0, seed 0), epsilon SQNR per step (quantized vs fp32
 * on the same x_t of the fp32 trajectories of those seeds, after the correction), class-FID between N quantized
 * and N fp32 samples on the MNIST classifier's pool features, file size (what the graphs share, identical
 * initializers such as the weights, counted once), onnxruntime-node per-step time (batch 1, 1 thread, every graph
 * interleaved with fp32 and the plain W8A8 graph, denoiser + correction; a variant's step is its graphs' times
 * averaged over the steps each serves), integer node count after onnxruntime's fusion (of an 8-bit graph; each
 * graph's count under `graphs`).
 *
 *   node bench/fidelity-mnist32.ts [--seeds 64] [--fid-samples 1000] [--calib 256] [--trajectories 32]
 *     [--variants w8,w8+ptqd,...] [--threads 2] [--latency-runs 60] [--out bench/results/fidelity-mnist32.json]
 *
 * A variant name is its bits then "+"-joined techniques: `w8`, `w8+ptqd`, `w4+gptq+mp0.15+ptqd`, `w8+g4`,
 * `w8+early32:2+late32:4`, `w8+g2+late16:3`, `w8+ship+early32:1+late32:4`; `recipe` stands for the techniques of
 * the recipe `build-artifact` ships for those bits (`resolveRecipe` of @qdm/toolchain): `w8+recipe`, `w4+recipe`.
 * Prints one JSON object; writes --out only for the default arguments unless --out is given.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  correctEpsilon,
  correctionAt,
  createDiffusion,
  type Denoiser,
  ddimSample,
  type NoiseCorrection,
  pixelDiff,
  toUint8NHWC,
} from '@qdm/shared';
import {
  type CalibrationSet,
  collectCalibration,
  createSession,
  featuresOf,
  frechetDistance,
  openFeatureNetwork,
  readCheckpoint,
  resolveRecipe,
  sessionDenoiser,
} from '@qdm/toolchain';
import { buildUNet, parseFlags } from '@qdm/toolchain/models';
import { encodeModel, type OnnxModel } from '@qdm/toolchain/onnx';
import {
  chooseW8Layers,
  exportQdq,
  fitNoiseCorrection,
  indexGraph,
  inspectFusion,
  type LayerSensitivity,
  measureSensitivity,
  observeActivations,
  planQuantization,
  prepareModel,
  type QuantizedWeight,
  type QuantPlan,
  reconstructWeights,
  roundWeightsNearest,
  SqnrAccumulator,
  weightMatrix,
  wideStepThresholds,
  withW8Layers,
  withWideSteps,
} from '@qdm/toolchain/quantize';
import * as ort from 'onnxruntime-node';
import { median, provenance, writeResult } from './lib.ts';
import { machineInfo } from './machine.ts';

const DEFAULT_VARIANTS =
  'w8,w8+ptqd,w8+early16:1+late16:3,w8+early32:2+late32:4,w4+gptq,w4+gptq+ptqd,w4+gptq+mp0.15,w4+gptq+mp0.15+ptqd';
const { values: args } = parseArgs({
  options: {
    seeds: { type: 'string', default: '64' },
    'fid-samples': { type: 'string', default: '1000' },
    calib: { type: 'string', default: '256' },
    trajectories: { type: 'string', default: '32' },
    variants: { type: 'string', default: DEFAULT_VARIANTS },
    threads: { type: 'string', default: '2' },
    'latency-runs': { type: 'string', default: '60' },
    out: { type: 'string' },
  },
});
const defaults =
  args.seeds === '64' &&
  args['fid-samples'] === '1000' &&
  args.calib === '256' &&
  args.trajectories === '32' &&
  args.variants === DEFAULT_VARIANTS &&
  args.threads === '2' &&
  args['latency-runs'] === '60';
const machine = machineInfo();
const shared = process.env.QDM_SHARED ?? resolve(import.meta.dirname, '../../shared');
const seeds = Number(args.seeds);
const fidSamples = Number(args['fid-samples']);
const threads = Number(args.threads);
const SHAPE: [number, number, number] = [3, 32, 32];
const SIZE = 3 * 32 * 32;
const BATCH = 16;
const log = (msg: string) => process.stderr.write(`${msg}\n`);
const round = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;

const { unet, diffusion: d } = parseFlags(JSON.parse(readFileSync(`${shared}/models/mnist32/flags.json`, 'utf8')));
const fp32 = buildUNet(unet, (await readCheckpoint(`${shared}/models/mnist32/ema.pt`)).tensors);
const fp32Bytes = encodeModel(fp32);
const config = {
  diffusionSteps: d.diffusionSteps,
  noiseSchedule: d.noiseSchedule,
  learnSigma: d.learnSigma,
  rescaleTimesteps: d.rescaleTimesteps,
};
const diffusion = createDiffusion(config, 'ddim50');
const outChannels = d.learnSigma ? 6 : 3;

// --- variant specs ---------------------------------------------------------------------------------------------
interface Spec {
  name: string;
  bits: 4 | 8;
  gptq: boolean;
  ptqd: boolean;
  budget: number;
  groups: number;
  /** Steps (last ones: t nearest 0; first ones: noisiest) served by a wide graph, its activation bits (32: float). */
  late: number;
  lateBits: 16 | 32;
  early: number;
  earlyBits: 16 | 32;
  /** Wide steps as build-artifact ships them: one graph, an If on t (float-activation wide steps only). */
  ship: boolean;
}
/** The shipped recipe of W<bits>A8 as this bench's techniques (the defaults `toolchain build-artifact` resolves). */
function recipeTechniques(bits: 4 | 8): string[] {
  const r = resolveRecipe({ weightBits: bits, activationBits: 8, scheme: 'full' });
  if (r.recon === 'adaround') throw new Error('the recipe reconstructs with adaround, which this bench does not run');
  return [
    ...(r.recon === 'gptq' ? ['gptq'] : []),
    ...(r.w8Budget > 0 ? [`mp${r.w8Budget}`] : []),
    ...(r.noiseCorrection === 'ptqd' ? ['ptqd'] : []),
    ...(r.wideSteps ? ['ship', `early32:${r.wideSteps.first}`, `late32:${r.wideSteps.last}`] : []),
  ];
}

function parseSpec(name: string): Spec {
  const [bits, ...techniques] = name.split('+');
  if (bits !== 'w8' && bits !== 'w4') throw new Error(`variant ${name}: starts with w8 or w4`);
  const spec: Spec = {
    name,
    bits: bits === 'w8' ? 8 : 4,
    gptq: false,
    ptqd: false,
    budget: 0,
    groups: 1,
    late: 0,
    lateBits: 16,
    early: 0,
    earlyBits: 16,
    ship: false,
  };
  for (const t of techniques.flatMap((t) => (t === 'recipe' ? recipeTechniques(spec.bits) : [t]))) {
    if (t === 'gptq') spec.gptq = true;
    else if (t === 'ptqd') spec.ptqd = true;
    else if (t === 'ship') spec.ship = true;
    else if (/^mp[0-9.]+$/.test(t)) spec.budget = Number(t.slice(2));
    else if (/^g[0-9]+$/.test(t)) spec.groups = Number(t.slice(1));
    else if (/^late(16|32):[0-9]+$/.test(t)) {
      spec.lateBits = t.startsWith('late16') ? 16 : 32;
      spec.late = Number(t.slice(7));
    } else if (/^early(16|32):[0-9]+$/.test(t)) {
      spec.earlyBits = t.startsWith('early16') ? 16 : 32;
      spec.early = Number(t.slice(8));
    } else throw new Error(`variant ${name}: unknown technique ${t}`);
  }
  const wide = spec.early + spec.late > 0;
  if (
    spec.ship &&
    (!wide || spec.groups > 1 || (spec.early && spec.earlyBits !== 32) || (spec.late && spec.lateBits !== 32))
  ) {
    throw new Error(`variant ${name}: ship takes float-activation wide steps (early32/late32) and no groups`);
  }
  return spec;
}
const specs = args.variants.split(',').filter(Boolean).map(parseSpec);

// --- calibration, fp32 reference ---------------------------------------------------------------------------------
let clock = performance.now();
const fpSession = await createSession(fp32Bytes, { threads, optimization: 'all' });
const fpDenoiser = sessionDenoiser(fpSession, { shape: SHAPE, learnSigma: d.learnSigma });
const calibration = await collectCalibration(fpDenoiser, {
  diffusion,
  shape: SHAPE,
  policy: { kind: 'uniform' },
  samples: Number(args.calib),
  trajectories: Number(args.trajectories),
  batch: BATCH,
  seed: 1,
  noise: 'gaussian',
});
log(`calibration ${((performance.now() - clock) / 1000).toFixed(1)} s`);

/** The fp32 trajectory inputs of the PSNR seeds, per step (loop order), and fp32's epsilon on them. */
const trajectory: { x: Float32Array; t: number; index: number; eps: Float32Array }[] = [];
const recording: Denoiser = async (x, t, batch) => {
  const out = await fpDenoiser(x, t, batch);
  const eps = new Float32Array(batch * SIZE);
  for (let b = 0; b < batch; b++)
    eps.set(out.subarray(b * outChannels * 1024, b * outChannels * 1024 + SIZE), b * SIZE);
  trajectory.push({ x: x.slice(), t: t[0], index: trajectory.length, eps });
  return out;
};
clock = performance.now();
const fpRef = toUint8NHWC(
  await ddimSample(recording, { diffusion, shape: SHAPE, batch: seeds, seed: 0 }),
  seeds,
  ...SHAPE,
);
const fpFid = fidSamples > 0 ? await sampleImages(fpDenoiser, undefined, fidSamples) : undefined;
await fpSession.release();
log(`fp32 reference ${((performance.now() - clock) / 1000).toFixed(1)} s`);

async function sampleImages(denoiser: Denoiser, correction: NoiseCorrection | undefined, n: number) {
  const out = new Uint8Array(n * SIZE);
  for (let first = 0; first < n; first += BATCH) {
    const batch = Math.min(BATCH, n - first);
    const x0 = await ddimSample(denoiser, { diffusion, shape: SHAPE, batch, seed: 0, firstSample: first, correction });
    out.set(toUint8NHWC(x0, batch, ...SHAPE), first * SIZE);
  }
  return out;
}

// --- shared quantization state -----------------------------------------------------------------------------------
const plans = new Map<string, QuantPlan>();
const planFor = (bits: 4 | 8, abits: 8 | 16 = 8) => {
  const key = `w${bits}a${abits}`;
  if (!plans.has(key))
    plans.set(key, planQuantization(fp32.graph, { scheme: 'full', weightBits: bits, activationBits: abits }));
  return plans.get(key)!;
};
const stats = await observeActivations(fp32, planFor(8), calibration, { observer: { kind: 'lp' }, threads });
let sensitivity: LayerSensitivity[] | undefined;
const allActivations = new Set(planFor(8).activations.map((a) => a.value));

function subset(set: CalibrationSet, keep: (step: number) => boolean): CalibrationSet {
  const picks = Array.from({ length: set.count }, (_, i) => i).filter((i) => keep(set.stepIndex[i]));
  const x = new Float32Array(picks.length * SIZE);
  picks.forEach((i, k) => {
    x.set(set.x.subarray(i * SIZE, (i + 1) * SIZE), k * SIZE);
  });
  return {
    x,
    t: Float32Array.from(picks.map((i) => set.t[i])),
    stepIndex: Int32Array.from(picks.map((i) => set.stepIndex[i])),
    count: picks.length,
    shape: set.shape,
  };
}

interface Group {
  /** Respaced step indices the group's graph serves (0 = the last step). */
  steps: number[];
  abits: 8 | 16 | 32;
}

const range = (lo: number, hi: number) => Array.from({ length: Math.max(0, hi - lo + 1) }, (_, k) => lo + k);

/**
 * One graph per group: the 8-bit groups split the steps between the last `late` and the first `early` loop steps
 * equally (`count` groups); the wide steps get one graph per activation width (early and late of the same width
 * share it). 8-bit graphs come first.
 */
function groupsOf(spec: Spec): Group[] {
  const n = diffusion.numSteps;
  const lo = spec.late;
  const span = n - spec.early - lo;
  const groups: Group[] = Array.from({ length: spec.groups }, (_, g) => ({
    steps: range(lo + Math.floor((g * span) / spec.groups), lo + Math.floor(((g + 1) * span) / spec.groups) - 1),
    abits: 8,
  }));
  const wide = (steps: number[], abits: 16 | 32) => {
    const same = groups.find((g) => g.abits === abits);
    if (same) same.steps.push(...steps);
    else if (steps.length > 0) groups.push({ steps, abits });
  };
  wide(range(0, spec.late - 1), spec.lateBits);
  wide(range(n - spec.early, n - 1), spec.earlyBits);
  return groups;
}

interface Built {
  spec: Spec;
  models: OnnxModel[];
  bytes: Uint8Array[];
  groups: Group[];
  correction?: NoiseCorrection;
  w8?: ReturnType<typeof chooseW8Layers>;
  buildSeconds: number;
}

async function build(spec: Spec): Promise<Built> {
  const started = performance.now();
  let plan = planFor(spec.bits);
  let w8: Built['w8'];
  if (spec.budget > 0) {
    sensitivity ??= await measureSensitivity(fp32, planFor(4), calibration, spread(calibration.count, 32), { threads });
    w8 = chooseW8Layers(
      sensitivity,
      spec.budget,
      plan.weights.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0),
    );
    plan = withW8Layers(plan, new Set(w8.w8.map((l) => l.node)));
  }
  let weights: Map<string, QuantizedWeight>;
  if (spec.gptq) {
    weights = (await reconstructWeights(fp32, plan, stats.ranges, calibration, { method: 'gptq', threads })).weights;
  } else {
    const index = indexGraph(prepareModel(fp32, plan).graph);
    weights = new Map(
      plan.weights.map((s) => [s.node, roundWeightsNearest(s, weightMatrix(index.initializer(s.weight)!), 'lp')]),
    );
  }
  if (spec.ship) return shipped(spec, plan, weights, started, w8);
  const groups = groupsOf(spec);
  const models: OnnxModel[] = [];
  for (const g of groups) {
    if (g.abits === 32) {
      models.push(exportQdq(fp32, plan, stats.ranges, weights, { skipActivations: allActivations }));
      continue;
    }
    // The 16-bit graph: the same weight sites and integer weights, 16-bit activation sites.
    const groupPlan = g.abits === 16 ? { ...planFor(spec.bits, 16), weights: plan.weights } : plan;
    const ranges =
      g.abits === 8 && spec.groups === 1
        ? stats.ranges
        : (
            await observeActivations(
              fp32,
              groupPlan,
              subset(calibration, (s) => g.steps.includes(s)),
              { observer: { kind: 'lp' }, threads },
            )
          ).ranges;
    models.push(exportQdq(fp32, groupPlan, ranges, weights));
  }
  const bytes = models.map(encodeModel);
  let correction: NoiseCorrection | undefined;
  const sessions = await Promise.all(bytes.map((b) => createSession(b, { threads, optimization: 'all' })));
  const denoiser = groupDenoiser(sessions, groups);
  if (spec.ptqd) {
    const ref = await createSession(fp32Bytes, { threads, optimization: 'all' });
    correction = await fitNoiseCorrection(
      sessionDenoiser(ref, { shape: SHAPE, learnSigma: d.learnSigma }),
      denoiser,
      calibration,
      {
        steps: 'ddim50',
        outChannels,
        batch: BATCH,
      },
    );
    await ref.release();
  }
  await Promise.all(sessions.map((s) => s.release()));
  return { spec, models, bytes, groups, correction, w8, buildSeconds: (performance.now() - started) / 1000 };
}

/** The shipped form: the 8-bit graph with its wide steps inside (one graph serving every step). */
async function shipped(
  spec: Spec,
  plan: QuantPlan,
  weights: Map<string, QuantizedWeight>,
  started: number,
  w8: Built['w8'],
): Promise<Built> {
  const thresholds = wideStepThresholds(diffusion, { first: spec.early, last: spec.late }, 'ddim50');
  const model = withWideSteps(exportQdq(fp32, plan, stats.ranges, weights), thresholds);
  const groups: Group[] = [{ steps: range(0, diffusion.numSteps - 1), abits: 8 }];
  return {
    spec,
    models: [model],
    bytes: [encodeModel(model)],
    groups,
    w8,
    buildSeconds: (performance.now() - started) / 1000,
  };
}

function spread(total: number, n: number): number[] {
  return Array.from({ length: Math.min(n, total) }, (_, k) => Math.floor(((k + 0.5) * total) / Math.min(n, total)));
}

/** Picks the group graph by the step's model time (t -> respaced index via the diffusion's times). */
function groupDenoiser(sessions: ort.InferenceSession[], groups: Group[]): Denoiser {
  const denoisers = sessions.map((s) => sessionDenoiser(s, { shape: SHAPE, learnSigma: d.learnSigma }));
  const times = Array.from({ length: diffusion.numSteps }, (_, i) => Math.fround(diffusion.modelTime(i)));
  return (x, t, batch) => {
    const index = times.indexOf(Math.fround(t[0]));
    const g = groups.findIndex((r) => r.steps.includes(index));
    return denoisers[Math.max(0, g)](x, t, batch);
  };
}

// --- evaluation ----------------------------------------------------------------------------------------------------
/** The first n images of each set: the manifest's same-seed PSNR (@qdm/shared pixel-metrics.ts). */
function psnr(a: Uint8Array, b: Uint8Array, n: number) {
  const d = pixelDiff(a.subarray(0, n * SIZE), b.subarray(0, n * SIZE), n);
  return { meanDb: round(d.psnrMean), minDb: round(d.psnrMin) };
}

const network =
  fidSamples > 0
    ? await openFeatureNetwork({ features: `${shared}/models/mnist-classifier/mnist_classifier.onnx`, threads })
    : undefined;
const poolOf = async (images: Uint8Array, n: number) =>
  (await featuresOf(network!, { images, n, h: 32, w: 32, c: 3 }, { batchSize: 100 })).pool!;
const fpPool = fpFid ? await poolOf(fpFid, fidSamples) : undefined;

const results: Record<string, unknown>[] = [];
const built: Built[] = [];
for (const spec of specs) {
  const b = await build(spec);
  built.push(b);
  clock = performance.now();
  const sessions = await Promise.all(b.bytes.map((m) => createSession(m, { threads, optimization: 'all' })));
  const denoiser = groupDenoiser(sessions, b.groups);
  // Epsilon SQNR per step on the fp32 trajectory inputs (loop order; respaced index = 49 - step).
  const sqnr: number[] = [];
  for (const step of trajectory) {
    let out = await denoiser(step.x, new Float32Array(seeds).fill(step.t), seeds);
    if (b.correction) out = correctEpsilon(out, correctionAt(b.correction, step.t), seeds, 3, outChannels);
    const acc = new SqnrAccumulator();
    for (let s = 0; s < seeds; s++) {
      acc.add(
        step.eps.subarray(s * SIZE, (s + 1) * SIZE),
        out.subarray(s * outChannels * 1024, s * outChannels * 1024 + SIZE),
      );
    }
    sqnr.push(acc.db());
  }
  const n = Math.max(seeds, fidSamples);
  const images = await sampleImages(denoiser, b.correction, n);
  const fid = fpPool ? frechetDistance(await poolOf(images, fidSamples), fpPool) : null;
  await Promise.all(sessions.map((s) => s.release()));
  const fusions = await Promise.all(b.models.map((m) => inspectFusion(m)));
  const fusion = fusions[0]; // an 8-bit graph
  const result = {
    variant: spec.name,
    bits: `w${spec.bits}a8`,
    techniques: {
      shipped: spec.ship || undefined,
      gptq: spec.gptq,
      ptqd: spec.ptqd,
      w8Budget: spec.budget,
      groups: spec.groups,
      lateSteps: spec.late,
      lateActivationBits: spec.late > 0 ? spec.lateBits : undefined,
      earlySteps: spec.early,
      earlyActivationBits: spec.early > 0 ? spec.earlyBits : undefined,
    },
    graphs: b.groups.map((g, k) => ({
      respacedSteps: spans(g.steps),
      activationBits: g.abits,
      integerNodes: fusions[k].integerTotal,
      floatLayers: fusions[k].floatLayerTotal,
    })),
    psnr: psnr(fpRef, images, seeds),
    epsilonSqnr: {
      meanDb: round(sqnr.reduce((x, y) => x + y, 0) / sqnr.length),
      minDb: round(Math.min(...sqnr)),
      byStep: sqnr.map((v) => round(v)),
    },
    classFid: fid === null ? null : round(fid, 3),
    bytes: b.bytes.reduce((a, x) => a + x.length, 0) - sharedBytes(b.models),
    sizeRatio: 0,
    integerNodes: fusion.integerTotal,
    integerByOp: fusion.integerNodes,
    w8Layers: b.w8?.w8.map((l) => ({ node: l.node, share: round(l.share, 4), reason: l.reason })),
    w8Used: b.w8 ? round(b.w8.used, 4) : undefined,
    noiseCorrection: b.correction
      ? {
          k: b.correction.k.map((v) => round(v, 4)),
          residualVariance: b.correction.residualVariance.map((v) => Number(v.toExponential(2))),
        }
      : undefined,
    buildSeconds: round(b.buildSeconds, 1),
    evalSeconds: round((performance.now() - clock) / 1000, 1),
  };
  result.sizeRatio = round(result.bytes / fp32Bytes.length, 4);
  results.push(result);
  log(
    `${spec.name}: PSNR ${result.psnr.meanDb} dB, eps SQNR mean ${result.epsilonSqnr.meanDb} min ${result.epsilonSqnr.minDb} dB, ` +
      `FID ${result.classFid}, ${result.sizeRatio}x, ${result.integerNodes} integer nodes (${result.evalSeconds} s)`,
  );
}

/**
 * Bytes a grouped artifact stores only once (one external-data file for its graphs): the encoded size of every
 * initializer that an earlier graph holds identically (name, type, values: the weights; int32 biases differ, as
 * their scale is the input's scale times the weight's).
 */
function sharedBytes(models: OnnxModel[]): number {
  const seen = new Map<string, OnnxModel['graph']['initializers'][number]>();
  let shared = 0;
  for (const model of models) {
    const repeats = model.graph.initializers.filter((t) => {
      const first = seen.get(t.name);
      if (!first) seen.set(t.name, t);
      return first !== undefined && sameTensor(first, t);
    });
    if (repeats.length === 0) continue;
    const bare = { ...model, graph: { ...model.graph, initializers: [] } };
    shared +=
      encodeModel({ ...bare, graph: { ...bare.graph, initializers: repeats } }).length - encodeModel(bare).length;
  }
  return shared;
}

/** Step indices as [lo, hi] runs. */
function spans(steps: number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const s of [...steps].sort((a, b) => a - b)) {
    const last = out.at(-1);
    if (last && last[1] === s - 1) last[1] = s;
    else out.push([s, s]);
  }
  return out;
}

function sameTensor(a: OnnxModel['graph']['initializers'][number], b: OnnxModel['graph']['initializers'][number]) {
  if (a.dtype !== b.dtype || a.data.length !== b.data.length || a.dims.join() !== b.dims.join()) return false;
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  return x.every((v, i) => v === y[i]);
}

// --- latency: batch 1, 1 thread, interleaved, denoiser + correction ------------------------------------------------
// Every graph of every variant, next to fp32 and the plain W8A8 graph; a variant's step time is its graphs' times
// averaged over the 50 steps each serves.
const runs = Number(args['latency-runs']);
const plain = planFor(8);
const plainIndex = indexGraph(prepareModel(fp32, plain).graph);
const plainBytes = encodeModel(
  exportQdq(
    fp32,
    plain,
    stats.ranges,
    new Map(
      plain.weights.map((s) => [s.node, roundWeightsNearest(s, weightMatrix(plainIndex.initializer(s.weight)!), 'lp')]),
    ),
  ),
);
// A shipped variant's one graph is timed at an 8-bit step's t and at a wide step's (the last step's).
const tOf = (i: number) => new Float32Array([diffusion.modelTime(i)]);
const timed = [
  { bytes: fp32Bytes, correction: undefined as NoiseCorrection | undefined, t: calibration.t.slice(0, 1) },
  { bytes: plainBytes, correction: undefined, t: calibration.t.slice(0, 1) },
  ...built.flatMap((b) =>
    b.spec.ship
      ? [tOf(diffusion.numSteps >> 1), tOf(0)].map((t) => ({ bytes: b.bytes[0], correction: b.correction, t }))
      : b.bytes.map((bytes) => ({ bytes, correction: b.correction, t: calibration.t.slice(0, 1) })),
  ),
];
const sessions = await Promise.all(
  timed.map((m) =>
    ort.InferenceSession.create(m.bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1 }),
  ),
);
const x = new ort.Tensor('float32', calibration.x.slice(0, SIZE), [1, ...SHAPE]);
const wall = sessions.map(() => [] as number[]);
for (let r = 0; r < runs + 5; r++) {
  for (const [k, s] of sessions.entries()) {
    const w0 = performance.now();
    const out = await s.run({ x, t: new ort.Tensor('float32', timed[k].t, [1]) });
    const c = timed[k].correction;
    if (c) correctEpsilon(out.out.data as Float32Array, correctionAt(c, timed[k].t[0]), 1, 3, outChannels);
    if (r >= 5) wall[k].push(performance.now() - w0);
  }
}
await Promise.all(sessions.map((s) => s.release()));
const fpMs = median(wall[0]);
const plainMs = median(wall[1]);
let next = 2;
results.forEach((r, k) => {
  const b = built[k];
  const n = diffusion.numSteps;
  const wide = b.spec.early + b.spec.late;
  const graphMs = b.spec.ship ? [median(wall[next++]), median(wall[next++])] : b.groups.map(() => median(wall[next++]));
  const stepMs = b.spec.ship
    ? ((n - wide) * graphMs[0] + wide * graphMs[1]) / n // [8-bit t, wide t]
    : b.groups.reduce((a, g, i) => a + g.steps.length * graphMs[i], 0) / n;
  r.stepMsByGraph = graphMs.map((v) => round(v, 3));
  r.stepMs = round(stepMs, 3);
  r.stepRatioVsW8a8 = round(stepMs / plainMs, 3);
  r.stepRatioVsFp32 = round(stepMs / fpMs, 3);
});

const report = {
  ...provenance('fidelity-mnist32', machine),
  model: 'mnist32',
  scheme: 'full (image ends float), activations uint8 per tensor, lp observer',
  sampler: 'ddim50, eta 0, seed 0',
  seeds,
  fidSamples,
  fidFeatures: 'mnist-classifier pool features, quantized vs fp32 samples of the same seeds',
  calibration: { pairs: calibration.count, trajectories: Number(args.trajectories), policy: 'uniform', seed: 1 },
  latency: {
    runtime: 'onnxruntime-node, level all, 1 thread, batch 1, median, interleaved',
    runs,
    fp32Ms: round(fpMs, 3),
    w8a8Ms: round(plainMs, 3),
    perVariant:
      'each graph timed; stepMs = its graphs averaged over the steps each serves (shipped: its one graph at an ' +
      '8-bit and at a wide step, stepMsByGraph [8-bit, wide])',
  },
  fp32Bytes: fp32Bytes.length,
  sensitivity: sensitivity?.map((s) => ({ node: s.node, params: s.params, aloneW4SqnrDb: round(s.aloneW4SqnrDb) })),
  variants: results,
};
writeResult('fidelity-mnist32', report, { defaultRun: defaults, out: args.out });
console.log(JSON.stringify(report));
