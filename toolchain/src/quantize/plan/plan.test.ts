import { describe, expect, it } from 'vitest';
import { prepareModel } from '../export/export.ts';
import { indexGraph } from '../graph-index.ts';
import { PLAIN_FLAGS, tinyUNet } from '../test-model.ts';
import { type ActivationSite, PlanError, planQuantization, type QuantPlan } from './plan.ts';
import { splitGraph } from './shortcut-split.ts';

const model = tinyUNet();
const layers = model.graph.nodes.filter((n) => n.opType === 'Conv' || n.opType === 'Gemm');
const plan = (scheme: QuantPlan['scheme'], extra: Partial<Parameters<typeof planQuantization>[1]> = {}) =>
  planQuantization(model.graph, { scheme, weightBits: 8, activationBits: 8, ...extra });
const site = (p: QuantPlan, value: string): ActivationSite | undefined => p.activations.find((a) => a.value === value);
const reads = (p: QuantPlan, node: string, input = 0) =>
  p.activations.some((a) => a.consumers.some((c) => c.node === node && c.input === input));

describe('planQuantization', () => {
  it('ptq4dm: every conv/linear weight per output channel and the activation after each', () => {
    const p = plan('ptq4dm');
    expect(p.splits).toEqual([]);
    expect(p.weights.map((w) => w.node).sort()).toEqual(layers.map((n) => n.name).sort());
    expect(p.activations.map((a) => a.value).sort()).toEqual(layers.map((n) => n.outputs[0]).sort());
    const index = indexGraph(model.graph);
    for (const a of p.activations) expect(a.consumers.length).toBe(index.uses(a.value).length);
    const kept = p.keptFloat.map((k) => k.reason).join('\n');
    expect(kept).toMatch(/GroupNorm/);
    expect(kept).toMatch(/softmax/);
    expect(kept).toMatch(/attention matmul/);
  });

  it('qdiff: conv/linear inputs for that reader only, q/k/v and softmax, shortcut splitting', () => {
    const p = plan('qdiff');
    const concats = model.graph.nodes.filter((n) => n.opType === 'Concat' && n.name.startsWith('output_blocks'));
    expect(p.splits.map((s) => s.concat).sort()).toEqual(concats.map((c) => c.name).sort());
    const split = splitGraph(model.graph, p.splits);
    const index = indexGraph(split);
    for (const w of p.weights) {
      expect(reads(p, w.node)).toBe(true);
      const input = site(p, w.inputValue)!;
      const others = input.consumers.filter((c) => !p.weights.some((x) => x.node === c.node));
      if (!['attention-q', 'attention-k', 'attention-v', 'softmax'].includes(input.role)) expect(others).toEqual([]);
    }
    for (const s of p.splits) {
      const concat = index.node(s.concat)!;
      expect(s.parts.map((part) => part.input)).toEqual(concat.inputs);
      const [h, skip] = s.parts;
      expect(h.channels[0]).toBe(0);
      expect(skip.channels[0]).toBe(h.channels[1]);
      // Separate input quantizers and separate weight sites for the two halves.
      expect(reads(p, h.node)).toBe(true);
      expect(reads(p, skip.node)).toBe(true);
      expect(site(p, h.input)).not.toBe(site(p, skip.input));
      expect(p.weights.find((w) => w.node === h.node)?.splitOf).toEqual({ conv: s.conv, channels: h.channels });
    }
    const roles = (r: string) => p.activations.filter((a) => a.role === r).length;
    const blocks = model.graph.nodes.filter((n) => n.opType === 'Softmax').length;
    expect(blocks).toBeGreaterThan(0);
    expect([roles('attention-q'), roles('attention-k'), roles('attention-v'), roles('softmax')]).toEqual(
      new Array(4).fill(blocks),
    );
  });

  it('full: inputs and outputs of every inner layer, scale and shift apart, residuals, float image ends', () => {
    const p = plan('full');
    const ends = ['input_blocks.0.0', 'out.2'];
    expect(
      p.keptFloat
        .filter((k) => /image-space end/.test(k.reason))
        .map((k) => k.name)
        .sort(),
    ).toEqual(ends);
    const weighted = new Set(p.weights.map((w) => w.node));
    for (const node of prepareModel(model, p).graph.nodes) {
      if (node.opType !== 'Conv' || ends.includes(node.name)) continue;
      expect(weighted.has(node.name)).toBe(true);
      expect(reads(p, node.name), node.name).toBe(true);
      expect(site(p, node.outputs[0]), node.name).toBeDefined();
    }
    expect(site(p, 'x')).toBeUndefined(); // the first conv reads x_t in float
    expect(site(p, 'out')).toBeUndefined();
    // 1 + scale and shift come out of their own linears, each quantized apart.
    expect(p.embSplits.length).toBe(model.graph.nodes.filter((n) => n.name.endsWith('emb_layers.1')).length);
    expect(site(p, 'input_blocks.1.0.emb_layers.1/scale')?.role).toBe('emb-scale');
    expect(site(p, 'input_blocks.1.0.emb_layers.1/shift')?.role).toBe('emb-shift');
    expect(site(p, 'input_blocks.1.0')?.role).toBe('residual');
    expect(site(p, 'input_blocks.3.1/softmax')?.role).toBe('softmax');
    // q*scale, k*scale and v come out of their own convs; the head reshapes share those grids.
    expect(p.qkvSplits.map((q) => q.conv)).toContain('input_blocks.3.1.qkv');
    expect(site(p, 'input_blocks.3.1.qkv/q')?.role).toBe('attention-q');
    expect(site(p, 'input_blocks.3.1.qkv/k')?.role).toBe('attention-k');
    expect(site(p, 'input_blocks.3.1.qkv/v')?.role).toBe('attention-v');
    expect(site(p, 'input_blocks.3.1/q_scaled')?.sharesParamsWith).toBe('input_blocks.3.1.qkv/q');
    // The attention output is computed as (w v^T)^T; the head merge and the nearest upsampling share their
    // input's grid, so they run on integers.
    expect(site(p, 'input_blocks.3.1/attention/transposed')?.role).toBe('attention-output');
    expect(site(p, 'input_blocks.3.1/merge_heads')?.sharesParamsWith).toBe('input_blocks.3.1/attention/transposed');
    const resize = p.activations.find((a) => a.value.endsWith('/resize'))!;
    expect(resize.sharesParamsWith).toBeDefined();
    const reasons = p.keptFloat.map((k) => k.reason).join('\n');
    expect(reasons).toMatch(/GroupNorm/);
    expect(reasons).not.toMatch(/attention matmul operands/);
  });

  it('full with quantized image ends quantizes x_t and the output too', () => {
    const p = plan('full', { imageEnds: 'quantized' });
    expect(site(p, 'x')?.consumers).toEqual([{ node: 'input_blocks.0.0', input: 0 }]);
    expect(site(p, 'out')?.graphOutput).toBe(true);
    expect(p.weights.some((w) => w.node === 'out.2')).toBe(true);
  });

  it('equal tensors share one quantizer (SiLU of the embedding in every ResBlock)', () => {
    const p = plan('full');
    const silu = p.activations.filter((a) => a.value.endsWith('.emb_layers.0'));
    expect(silu.length).toBeGreaterThan(2);
    expect(silu.filter((a) => a.sharesParamsWith === undefined)).toHaveLength(1);
  });

  it('keep-float: no weight or input quantizer; a kept conv read by integer kernels still hands them int8', () => {
    const p = plan('full', { keepFloat: ['input_blocks.1.0.out_layers.3'] });
    expect(p.weights.some((w) => w.node === 'input_blocks.1.0.out_layers.3')).toBe(false);
    expect(reads(p, 'input_blocks.1.0.out_layers.3')).toBe(false);
    expect(site(p, 'input_blocks.1.0.out_layers.3')).toBeDefined(); // read by the residual QLinearAdd
    expect(p.keptFloat.find((k) => k.name === 'input_blocks.1.0.out_layers.3')?.reason).toMatch(/keep-float/);
    const q = plan('qdiff', { keepFloat: ['input_blocks.1.0.out_layers.3'] });
    expect(reads(q, 'input_blocks.1.0.out_layers.3')).toBe(false);
    expect(() => plan('full', { keepFloat: ['no.such.layer'] })).toThrow(PlanError);
  });

  it('bits: 4-bit weights, 16-bit activations, softmax bits apart', () => {
    const p = plan('qdiff', { weightBits: 4, activationBits: 16, softmaxBits: 8 });
    expect(p.weights.every((w) => w.bits === 4)).toBe(true);
    for (const a of p.activations) expect(a.bits).toBe(a.role === 'softmax' ? 8 : 16);
  });

  it('models without scale-shift norm: the embedding projection is added, no scale/shift sites', () => {
    const plain = tinyUNet(PLAIN_FLAGS);
    const p = planQuantization(plain.graph, { scheme: 'full', weightBits: 8, activationBits: 8 });
    expect(p.activations.some((a) => a.role === 'emb-scale' || a.role === 'emb-shift')).toBe(false);
    expect(p.weights.some((w) => w.node.endsWith('emb_layers.1'))).toBe(true);
  });
});
