/**
 * What a wide step costs at the size of real models: an artifact's int8 graph built with wide steps (build-artifact's
 * W8A8 default; the toolchain's wide-steps.ts) timed at an 8-bit step's t and at a wide step's t, on
 * onnxruntime-node (the portable graph at level 'all', as `toolchain sample` and the edge's native runtime load it)
 * and on onnxruntime-web's WASM (the edge graph with both branches, loaded as the edge loads it), interleaved, with
 * fp32 on onnxruntime-node beside them; and the mean step of a run (`--steps`, default ddim50) against its 8-bit step.
 *   node bench/wide-steps-cost.ts [--model cifar10-random] [--steps ddim50] [--runs 7] [--threads 2]
 * The model is an artifact under QDM_ARTIFACTS or artifacts/ (`cifar10-random`: bench/cifar10-artifact.ts builds it).
 * Prints one JSON object; the default run writes bench/results/wide-steps-cost.json.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ortWebSessions } from '@qdm/edge-probe/ort-web';
import { compileOrtWasm } from '@qdm/edge-probe/wasm-node';
import { createDiffusion, type Manifest } from '@qdm/shared';
import { isWideStep } from '@qdm/toolchain/quantize';
import * as ort from 'onnxruntime-node';
import { CIFAR10_ARTIFACT, cifar10Artifact } from './cifar10-artifact.ts';
import { log, round } from './edge-lib.ts';
import { median, provenance, writeResult } from './lib.ts';
import { machineInfo } from './machine.ts';

const defaults = { model: CIFAR10_ARTIFACT, steps: 'ddim50', runs: '7', threads: '2' };
const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: defaults.model },
    steps: { type: 'string', default: defaults.steps },
    runs: { type: 'string', default: defaults.runs },
    threads: { type: 'string', default: defaults.threads },
  },
});
const isDefaultRun = Object.entries(defaults).every(([k, v]) => args[k as keyof typeof args] === v);
const root =
  args.model === CIFAR10_ARTIFACT
    ? (await cifar10Artifact()).root
    : resolve(process.env.QDM_ARTIFACTS ?? join(import.meta.dirname, '..', 'artifacts'));
const dir = join(root, args.model);
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
const int8 = manifest.variants.int8;
const wide = int8?.quantization?.wideSteps;
if (!wide || !int8.edgeGraph)
  throw new Error(`${dir}: its int8 variant has no wide steps (build it with --wide-steps)`);

// Which steps of the run take the wide branch, and a t of each kind.
const { diffusionSteps, noiseSchedule, learnSigma, rescaleTimesteps } = manifest.diffusion;
const diffusion = createDiffusion({ diffusionSteps, noiseSchedule, learnSigma, rescaleTimesteps }, args.steps);
const times = Array.from({ length: diffusion.numSteps }, (_, i) => Math.fround(diffusion.modelTime(i)));
const isWide = (t: number) => isWideStep(wide, t);
const wideCount = times.filter(isWide).length;
const tEight = times.find((t) => !isWide(t) && t >= times[times.length >> 1]) ?? times[times.length >> 1];
const tWide = times.find(isWide);
if (tWide === undefined) throw new Error(`${args.steps}: no step of it is wide`);

const { inChannels: c, imageSize: s } = manifest.model;
const shape = [1, c, s, s];
const x = Float32Array.from({ length: c * s * s }, (_, i) => Math.sin(i * 0.37));
const threads = Number(args.threads);
const native = (file: string) =>
  ort.InferenceSession.create(new Uint8Array(readFileSync(join(dir, file))), {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  });
log(`wide-steps-cost: ${args.model}: loading (native int8 and fp32, wasm int8 edge graph)`);
const [nativeInt8, nativeFp32] = [await native(int8.file), await native(manifest.variants.fp32.file)];
const sessions = ortWebSessions(compileOrtWasm);
const wasmInt8 = await sessions(new Uint8Array(readFileSync(join(dir, int8.edgeGraph.file))), {
  optimized: true,
  format: int8.edgeGraph.format ?? 'onnx',
});

const runNative = (session: ort.InferenceSession, t: number) =>
  session.run({ x: new ort.Tensor('float32', x, shape), t: new ort.Tensor('float32', new Float32Array([t]), [1]) });
const cases: Record<string, () => Promise<unknown>> = {
  'native int8 8-bit step': () => runNative(nativeInt8, tEight),
  'native int8 wide step': () => runNative(nativeInt8, tWide),
  'native fp32': () => runNative(nativeFp32, tEight),
  'wasm int8 8-bit step': () => wasmInt8.run(x, shape, new Float32Array([tEight])),
  'wasm int8 wide step': () => wasmInt8.run(x, shape, new Float32Array([tWide])),
};
const samples: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const runs = Number(args.runs);
for (let r = 0; r < runs + 1; r++) {
  log(`wide-steps-cost: round ${r + 1} of ${runs + 1}${r === 0 ? ' (warm-up, not counted)' : ''}`);
  for (const [name, call] of Object.entries(cases)) {
    const start = performance.now();
    await call();
    if (r > 0) samples[name].push(performance.now() - start);
  }
}
await Promise.all([nativeInt8.release(), nativeFp32.release(), wasmInt8.release()]);

const ms = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, round(median(v), 2)]));
const n = diffusion.numSteps;
const runtime = (prefix: 'native' | 'wasm') => {
  const eight = ms[`${prefix} int8 8-bit step`];
  const widened = ms[`${prefix} int8 wide step`];
  return {
    wideOverEightBit: round(widened / eight, 3),
    // The run's mean step against the same run on the 8-bit graph alone.
    meanStepOverEightBit: round(((n - wideCount) * eight + wideCount * widened) / (n * eight), 3),
  };
};
const out = {
  ...provenance('wide-steps-cost', machineInfo()),
  model: args.model,
  parameters: manifest.model.parameters,
  wideSteps: wide,
  run: { steps: args.steps, of: n, wide: wideCount, tEightBit: tEight, tWide },
  setup: `batch 1, median of ${runs} interleaved rounds; native: onnxruntime-node ${ort.env.versions.common}, level all, ${threads} intra-op threads; wasm: onnxruntime-web, 1 thread, the edge graph (both branches) as the edge loads it`,
  stepMs: ms,
  samplesMs: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.map((t) => round(t, 1))])),
  native: { ...runtime('native'), wideOverFp32: round(ms['native int8 wide step'] / ms['native fp32'], 3) },
  wasm: runtime('wasm'),
};
const json = JSON.stringify(out, null, 2);
console.log(json);
writeResult('wide-steps-cost', out, { defaultRun: isDefaultRun, indent: 2 });
