/**
 * Session creation in the edge's WASM runtime by graph size: each edge graph of the measured artifacts loaded as the
 * edge loads it (onnxruntime-web, ORT format, weights read in place, optimizer off), its nodes counted (If branches
 * included), rounds interleaved, the runtime initialized once before. What a cold start spends after the bytes are
 * in: onnxruntime's own session work, which grows with the node count.
 *   node bench/session-create.ts [--models mnist32,cifar10-random] [--runs 5]
 * Artifacts come from QDM_ARTIFACTS or artifacts/ (`npm run demo` builds mnist32; bench/cifar10-artifact.ts the
 * CIFAR-10 one). Prints one JSON object; the default run writes bench/results/session-create.json.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ortWebSessions } from '@qdm/edge-probe/ort-web';
import { compileOrtWasm } from '@qdm/edge-probe/wasm-node';
import { edgeGraphsOf, type Manifest } from '@qdm/shared';
import { optimizeForEdge } from '@qdm/toolchain';
import { decodeModel, encodeModel } from '@qdm/toolchain/onnx';
import { graphNodes, withoutWideSteps } from '@qdm/toolchain/quantize';
import { cifar10Artifact } from './cifar10-artifact.ts';
import { log, round } from './edge-lib.ts';
import { median, provenance, writeResult } from './lib.ts';
import { machineInfo } from './machine.ts';

const defaults = { models: 'mnist32,cifar10-random', runs: '5' };
const { values: args } = parseArgs({
  options: { models: { type: 'string', default: defaults.models }, runs: { type: 'string', default: defaults.runs } },
});
const isDefaultRun = args.models === defaults.models && args.runs === defaults.runs;
const root = resolve(process.env.QDM_ARTIFACTS ?? join(import.meta.dirname, '..', 'artifacts'));
if (args.models.split(',').includes('cifar10-random')) await cifar10Artifact();

interface Graph {
  label: string;
  bytes: Uint8Array;
  nodes: number;
  samples: number[];
}
const graphs: Graph[] = [];
for (const model of args.models.split(',')) {
  const dir = join(root, model);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  for (const [variant, entry] of Object.entries(manifest.variants)) {
    for (const graph of edgeGraphsOf(entry)) {
      if (graph.format !== 'ort') continue;
      // The node count of the same optimization, written as ONNX (the ORT format has no reader here).
      const eightBitOnly = graph === entry.edgeGraph?.eightBitOnly;
      const portable = decodeModel(new Uint8Array(readFileSync(join(dir, entry.file))));
      const source = encodeModel(eightBitOnly ? withoutWideSteps(portable) : portable);
      const nodes = graphNodes(decodeModel(await optimizeForEdge(source)).graph);
      graphs.push({
        label: `${model} ${variant}${eightBitOnly ? ' (8-bit only)' : entry.quantization?.wideSteps ? ' (wide steps)' : ''}`,
        bytes: new Uint8Array(readFileSync(join(dir, graph.file))),
        nodes: nodes.length,
        samples: [],
      });
    }
  }
}

const sessions = ortWebSessions(compileOrtWasm);
const runs = Number(args.runs);
for (let r = 0; r < runs + 1; r++) {
  log(`session-create: round ${r + 1} of ${runs + 1}${r === 0 ? ' (runtime init, not counted)' : ''}`);
  for (const g of graphs) {
    const start = performance.now();
    const session = await sessions(g.bytes, { optimized: true, format: 'ort' });
    if (r > 0) g.samples.push(performance.now() - start);
    await session.release();
  }
}

const rows = graphs.map((g) => {
  const ms = median(g.samples);
  return {
    graph: g.label,
    MB: round(g.bytes.length / 1e6, 1),
    nodes: g.nodes,
    createMs: round(ms, 1),
    msPerNode: round(ms / g.nodes, 3),
    samplesMs: g.samples.map((v) => round(v, 1)),
  };
});
const out = {
  ...provenance('session-create', machineInfo()),
  runtime: `${sessions.runtime ?? 'onnxruntime-web'} wasm, 1 thread, ORT format read in place, optimizer off`,
  note: 'nodes: the same edge optimization written as ONNX, If branches included',
  runs,
  graphs: rows,
};
const json = JSON.stringify(out, null, 2);
console.log(json);
writeResult('session-create', out, { defaultRun: isDefaultRun, indent: 2 });
