/**
 * fp32 forward latency: the graph `toolchain import` writes, against PyTorch's own `torch.onnx.export` of the same
 * weights, both in this onnxruntime-node, same threads and batch, in alternating rounds (the machine is shared:
 * compare the ratios, not the ms). Also the `import --winograd` variant where import's timings kept it, and
 * improved-diffusion's UNetModel eager on Debian's python3-torch (generic BLAS: a second column, not the target).
 * Models: the CIFAR-10 configuration (52.5M parameters, random weights) and mnist32 ($QDM_SHARED/models/mnist32).
 *
 *   node bench/fp32-forward.ts [--model cifar10,mnist32] [--batch 1,16] [--threads 1] [--rounds 3]
 *     [--iterations 2] [--winograd 4|2|0]
 *
 * Torch side: /usr/bin/python3 (QDM_PYTHON) with torch and IMPROVED_DIFFUSION=/path/to/improved-diffusion; the
 * export is bench/torch_onnx_export.py, eager bench/torch_unet_forward.py. Without them those fields are null
 * with the reason. Prints one JSON object; the default run also writes bench/results/fp32-forward.json.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { encodeNpz, type Tensor } from '@qdm/shared';
import { createSession, float32Tensor, importCheckpoint, readCheckpoint, type Session } from '@qdm/toolchain';
import { type ImprovedDiffusionFlags, parseFlags, unetLayout, unetWeightShapes } from '@qdm/toolchain/models';
import { decodeModel, type WinogradTile } from '@qdm/toolchain/onnx';
import { median, provenance, randomWeights, writeResult } from './lib.ts';
import { machineInfo } from './machine.ts';

const machine = machineInfo();
const DEFAULTS = { model: 'cifar10,mnist32', batch: '1,16', threads: '1', rounds: '3', iterations: '2', winograd: '4' };
const { values: args } = parseArgs({
  options: Object.fromEntries(Object.entries(DEFAULTS).map(([k, v]) => [k, { type: 'string', default: v }])) as {
    [K in keyof typeof DEFAULTS]: { type: 'string'; default: string };
  },
});
const threads = Number(args.threads);
const batches = args.batch.split(',').map(Number);
const rounds = Number(args.rounds);
const iterations = Number(args.iterations);
const tile = Number(args.winograd);
if (![0, 2, 4].includes(tile)) throw new Error(`--winograd: 0, 2 or 4, got ${args.winograd}`);
const isDefaultRun = Object.entries(DEFAULTS).every(([k, v]) => args[k as keyof typeof DEFAULTS] === v);
const python = process.env.QDM_PYTHON ?? '/usr/bin/python3';
const shared = resolve(process.env.QDM_SHARED ?? resolve(import.meta.dirname, '../../shared'));
const work = mkdtempSync(join(tmpdir(), 'qdm-fp32-forward-'));
const log = (m: string) => process.stderr.write(`${m}\n`);

interface ModelSpec {
  name: string;
  description: string;
  flags: ImprovedDiffusionFlags;
  weights: () => Promise<Map<string, Tensor>>;
}

const MODELS: Record<string, ModelSpec> = {
  cifar10: {
    name: 'cifar10',
    description: 'improved-diffusion CIFAR-10 U-Net configuration (random weights)',
    flags: parseFlags(
      '--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True --dropout 0.3 ' +
        '--diffusion_steps 4000 --noise_schedule cosine',
    ),
    weights: async () => {
      const shapes = unetWeightShapes(unetLayout(MODELS.cifar10.flags.unet));
      return new Map([...shapes].map(([name, shape]) => [name, randomWeights(name, shape)]));
    },
  },
  mnist32: {
    name: 'mnist32',
    description: 'mnist32, the trained model in $QDM_SHARED/models/mnist32',
    flags: parseFlags(JSON.parse(readFileSync(join(shared, 'models/mnist32/flags.json'), 'utf8'))),
    weights: async () => (await readCheckpoint(join(shared, 'models/mnist32/ema.pt'))).tensors,
  },
};

/** create_model's keyword arguments from the improved-diffusion flags. */
function createModelFlags(flags: ImprovedDiffusionFlags): Record<string, unknown> {
  const f = flags.flags;
  const keys = ['image_size', 'num_channels', 'num_res_blocks', 'learn_sigma', 'class_cond', 'attention_resolutions'];
  const out: Record<string, unknown> = Object.fromEntries(keys.map((k) => [k, f[k]]));
  for (const k of ['num_heads', 'num_heads_upsample', 'use_scale_shift_norm', 'dropout']) out[k] = f[k];
  out.use_checkpoint = false;
  return out;
}

/** The torch.onnx.export graph's op counts (its script's JSON line), or why there is no graph. */
function torchExport(flagsPath: string, weightsPath: string, out: string): { ops: unknown } | string {
  const script = resolve(import.meta.dirname, 'torch_onnx_export.py');
  const r = spawnSync(python, [script, flagsPath, weightsPath, out], { encoding: 'utf8' });
  if (r.status === 0) return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { ops: unknown };
  const last = `${r.stderr ?? ''}${r.error?.message ?? ''}`.trim().split('\n').pop();
  return `torch.onnx.export unavailable: ${last || `exit ${r.status}`}`;
}

interface TorchWorker {
  info: Record<string, unknown>;
  run(batch: number): Promise<number[]>;
  close(): void;
}

async function startEager(flagsPath: string, weightsPath: string): Promise<TorchWorker | string> {
  const script = resolve(import.meta.dirname, 'torch_unet_forward.py');
  const child: ChildProcess = spawn(python, [script, String(threads), flagsPath, weightsPath], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  child.on('error', (e) => {
    stderr += e.message;
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const first = await Promise.race([
    lines.next(),
    new Promise<{ done: true; value: undefined }>((done) =>
      child.on('exit', () => done({ done: true, value: undefined })),
    ),
  ]);
  if (first.done) return `PyTorch eager unavailable: ${stderr.trim().split('\n').pop() ?? 'no output'}`;
  return {
    info: JSON.parse(first.value),
    async run(batch) {
      child.stdin!.write(`run ${batch} ${iterations}\n`);
      return JSON.parse((await lines.next()).value).ms as number[];
    },
    close: () => child.stdin!.end(),
  };
}

async function ortRound(session: Session, batch: number, size: number): Promise<number[]> {
  const x = float32Tensor(
    new Float32Array(batch * 3 * size * size).map(() => Math.random() * 2 - 1),
    [batch, 3, size, size],
  );
  const t = float32Tensor(new Float32Array(batch).fill(500.25), [batch]);
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = performance.now();
    await session.run({ x, t });
    times.push(performance.now() - start);
  }
  return times;
}

/** Node count per op type (the graph's size before onnxruntime's own fusions). */
function opCounts(bytes: Uint8Array): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const node of decodeModel(bytes).graph.nodes) counts[node.opType] = (counts[node.opType] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]));
}

const round = (x: number | null) => (x === null ? null : Number(x.toFixed(3)));

async function benchModel(spec: ModelSpec): Promise<Record<string, unknown>> {
  const dir = join(work, spec.name);
  mkdirSync(dir, { recursive: true });
  const weights = await spec.weights();
  const weightsPath = join(dir, 'weights.npz');
  writeFileSync(weightsPath, encodeNpz(Object.fromEntries(weights)));
  const flagsPath = join(dir, 'create_model.json');
  writeFileSync(flagsPath, JSON.stringify(createModelFlags(spec.flags)));
  log(`${spec.name}: toolchain import${tile ? ` --winograd ${tile} --threads ${threads}` : ''}`);
  const imported = await importCheckpoint({
    checkpoint: weightsPath,
    flags: spec.flags,
    outDir: join(dir, 'artifact'),
    winograd: tile ? (tile as WinogradTile) : undefined,
    threads,
    log: (m) => log(`  ${m}`),
  });
  const graphs = new Map<string, Uint8Array>([['import', readFileSync(join(dir, 'artifact/model.fp32.onnx'))]]);
  if (imported.winograd?.written) {
    graphs.set('importWinograd', readFileSync(join(dir, 'artifact/model.fp32-winograd.onnx')));
  }
  log(`${spec.name}: torch.onnx.export`);
  const exportPath = join(dir, 'torch-export.onnx');
  const exported = torchExport(flagsPath, weightsPath, exportPath);
  const exportMissing = typeof exported === 'string' ? exported : undefined;
  if (!exportMissing) graphs.set('torchExport', readFileSync(exportPath));
  const eager = await startEager(flagsPath, weightsPath);
  const sessions = new Map<string, Session>();
  for (const [name, bytes] of graphs) sessions.set(name, await createSession(bytes, { threads, optimization: 'all' }));
  const size = spec.flags.unet.imageSize;
  const results: Record<string, unknown>[] = [];
  for (const batch of batches) {
    for (const s of sessions.values()) await ortRound(s, batch, size); // warm-up
    if (typeof eager !== 'string') await eager.run(batch);
    const times = new Map<string, number[]>([...sessions.keys(), 'torchEager'].map((k) => [k, []]));
    for (let r = 0; r < rounds; r++) {
      for (const [name, s] of sessions) times.get(name)!.push(...(await ortRound(s, batch, size)));
      if (typeof eager !== 'string') times.get('torchEager')!.push(...(await eager.run(batch)));
    }
    const ms = (name: string) => (times.get(name)?.length ? median(times.get(name)!) : null);
    const [ours, exportMs, wino, torchEager] = ['import', 'torchExport', 'importWinograd', 'torchEager'].map(ms);
    const row = {
      batch,
      importMs: round(ours),
      torchExportMs: round(exportMs),
      importVsTorchExport: ours && exportMs ? round(ours / exportMs) : null,
      importWinogradMs: round(wino),
      importWinogradVsTorchExport: wino && exportMs ? round(wino / exportMs) : null,
      torchEagerMs: round(torchEager),
      importVsTorchEager: ours && torchEager ? round(ours / torchEager) : null,
    };
    results.push(row);
    log(`${spec.name} batch ${batch}: ${JSON.stringify(row)}`);
  }
  if (typeof eager !== 'string') eager.close();
  for (const s of sessions.values()) await s.release();
  return {
    model: spec.description,
    parameters: imported.parameters,
    ops: {
      import: opCounts(graphs.get('import')!),
      torchExport: typeof exported === 'string' ? null : exported.ops,
    },
    torchExport: exportMissing ? { unavailable: exportMissing } : { script: 'bench/torch_onnx_export.py', opset: 17 },
    torchEager: typeof eager === 'string' ? { unavailable: eager } : eager.info,
    winograd: imported.winograd
      ? {
          tile,
          written: imported.winograd.written,
          convs: imported.winograd.convs.length,
          reason: imported.winograd.reason,
        }
      : null,
    results,
  };
}

const models: Record<string, unknown> = {};
try {
  for (const name of args.model.split(',')) {
    const spec = MODELS[name];
    if (!spec) throw new Error(`--model: cifar10 or mnist32, got ${name}`);
    models[name] = await benchModel(spec);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const report = {
  ...provenance('fp32-forward', machine),
  threads,
  iterations: rounds * iterations,
  target:
    'the graph toolchain import writes <= 0.8x the torch.onnx.export graph time, same onnxruntime, batch 1 and 16',
  columns: {
    import: 'model.fp32.onnx as toolchain import writes it',
    importWinograd: `model.fp32-winograd.onnx from import --winograd ${tile} (null where import's timings kept none)`,
    torchExport: 'torch.onnx.export of the same weights (opset 17), same onnxruntime session options',
    torchEager: "improved-diffusion's UNetModel in Debian's python3-torch (generic BLAS)",
  },
  models,
};
writeResult('fp32-forward', report, { defaultRun: isDefaultRun });
console.log(JSON.stringify(report));
