/**
 * fp32 forward latency of the CIFAR-10 improved-diffusion U-Net (52.5M parameters, random weights): our ONNX
 * graph in onnxruntime-node against improved-diffusion's PyTorch UNetModel on CPU, same thread count, same batch,
 * measured in alternating rounds in one run (the machine is shared and noisy: compare the ratio, not the ms).
 * `--winograd` lists the graph variants: 0 is the plain export (direct convs), 2 and 4 are buildUNet's
 * `winograd` option (3x3 convs as Winograd F(2x2,3x3) / F(4x4,3x3)).
 *
 *   node bench/fp32-forward.ts [--threads 1] [--batch 1,4] [--rounds 3] [--iterations 5] [--winograd 0,4]
 *
 * PyTorch side: Debian's python3-torch and an improved-diffusion checkout (IMPROVED_DIFFUSION=path). Without
 * them the torch fields are null with the reason. Prints one JSON object; also writes bench/results/.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { Tensor } from '@qdm/shared';
import { parseFlags } from '../toolchain/src/models/flags.ts';
import { buildUNet } from '../toolchain/src/models/unet.ts';
import { unetLayout, unetWeightShapes } from '../toolchain/src/models/unet-layout.ts';
import { encodeModel } from '../toolchain/src/onnx/model.ts';
import type { WinogradTile } from '../toolchain/src/onnx/winograd.ts';
import { createSession, float32Tensor, type Session } from '../toolchain/src/runtime/ort.ts';
import { median, randomWeights } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' },
    batch: { type: 'string', default: '1,4' },
    rounds: { type: 'string', default: '3' },
    iterations: { type: 'string', default: '5' },
    winograd: { type: 'string', default: '0,4' },
  },
});
const threads = Number(args.threads);
const batches = args.batch.split(',').map(Number);
const rounds = Number(args.rounds);
const iterations = Number(args.iterations);
const tiles = args.winograd.split(',').map(Number);
for (const tile of tiles) if (![0, 2, 4].includes(tile)) throw new Error(`--winograd: 0, 2 or 4, got ${tile}`);
const variantName = (tile: number): string => (tile ? `winograd${tile}` : 'direct');

const cifarFlags = parseFlags(
  '--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True --dropout 0.3 ' +
    '--diffusion_steps 4000 --noise_schedule cosine',
);
const shapes = unetWeightShapes(unetLayout(cifarFlags.unet));
const weights = new Map<string, Tensor>();
for (const [name, shape] of shapes) weights.set(name, randomWeights(name, shape));
const sessions = new Map<string, Session>();
for (const tile of tiles) {
  const winograd = tile ? (tile as WinogradTile) : undefined;
  const bytes = encodeModel(buildUNet(cifarFlags.unet, weights, { winograd }));
  sessions.set(variantName(tile), await createSession(bytes, { threads, optimization: 'all' }));
}

async function ortRound(session: Session, batch: number): Promise<number[]> {
  const x = float32Tensor(
    new Float32Array(batch * 3 * 32 * 32).map(() => Math.random() * 2 - 1),
    [batch, 3, 32, 32],
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

interface TorchWorker {
  info: Record<string, unknown>;
  run(batch: number): Promise<number[]>;
  close(): void;
}

async function startTorch(): Promise<TorchWorker | string> {
  const python = process.env.QDM_PYTHON ?? '/usr/bin/python3';
  const child = spawn(python, [resolve(import.meta.dirname, 'torch_unet_forward.py'), String(threads)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await Promise.race([
    lines.next(),
    new Promise<{ done: true; value: undefined }>((done) =>
      child.on('exit', () => done({ done: true, value: undefined })),
    ),
  ]);
  if (first.done) return `PyTorch reference unavailable: ${stderr.trim().split('\n').pop() ?? 'no output'}`;
  return {
    info: JSON.parse(first.value),
    async run(batch) {
      child.stdin.write(`run ${batch} ${iterations}\n`);
      const next = await lines.next();
      return JSON.parse(next.value).ms as number[];
    },
    close: () => child.stdin.end(),
  };
}

const torch = await startTorch();
const results: Record<string, unknown>[] = [];
for (const batch of batches) {
  for (const session of sessions.values()) await ortRound(session, batch); // warm-up
  if (typeof torch !== 'string') await torch.run(batch);
  const ort = new Map<string, number[]>([...sessions.keys()].map((name) => [name, []]));
  const pt: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const [name, session] of sessions) ort.get(name)!.push(...(await ortRound(session, batch)));
    if (typeof torch !== 'string') pt.push(...(await torch.run(batch)));
  }
  const torchMs = pt.length ? median(pt) : null;
  const variants: Record<string, { onnxruntimeMs: number; speedup: number | null }> = {};
  for (const [name, times] of ort) {
    const ms = median(times);
    variants[name] = { onnxruntimeMs: ms, speedup: torchMs ? torchMs / ms : null };
  }
  results.push({ batch, torchMs, ...variants });
  const line = Object.entries(variants).map(([name, v]) => `${name} ${v.onnxruntimeMs.toFixed(1)} ms`);
  process.stderr.write(`batch ${batch}: ${line.join(', ')}, torch ${torchMs?.toFixed(1) ?? '-'} ms\n`);
}
if (typeof torch !== 'string') torch.close();
for (const session of sessions.values()) await session.release();

const report = {
  bench: 'fp32-forward',
  model: 'improved-diffusion CIFAR-10 U-Net (random weights)',
  parameters: [...weights.values()].reduce((n, w) => n + w.data.length, 0),
  threads,
  iterations: rounds * iterations,
  torch: typeof torch === 'string' ? { unavailable: torch } : torch.info,
  target: 'onnxruntime-node at least 1.5x faster than PyTorch CPU',
  variants: Object.fromEntries(
    tiles.map((tile) => [variantName(tile), tile ? `winograd F(${tile}x${tile},3x3)` : 'plain export']),
  ),
  results,
};
mkdirSync(resolve(import.meta.dirname, 'results'), { recursive: true });
writeFileSync(resolve(import.meta.dirname, 'results/fp32-forward.json'), `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(report));
