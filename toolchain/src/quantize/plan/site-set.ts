/**
 * The activation sites a plan is being assembled from: one site per value, consumers merged when several rules
 * quantize the same value, keep-float nodes honoured, equal tensors given one set of parameters.
 */
import { type GraphIndex, type ValueUse, valueKeys } from '../graph-index.ts';
import type { ActivationRole, ActivationSite, PlanOptions } from './plan-types.ts';

/**
 * Sites keyed by value, merging consumers when several rules quantize the same value. Keep-float nodes neither
 * read quantized values nor get their outputs quantized, unless a rule forces it (in `full`, the output of a kept
 * conv that integer kernels read).
 */
export class SiteSet {
  readonly index: GraphIndex;
  readonly options: PlanOptions;
  readonly keep: Set<string>;
  readonly sites = new Map<string, ActivationSite>();

  constructor(index: GraphIndex, options: PlanOptions, keep: Set<string>) {
    this.index = index;
    this.options = options;
    this.keep = keep;
  }

  has(value: string): boolean {
    return this.sites.has(value);
  }

  /** Quantize `value` for the given readers (default: every reader, and the graph output if it is one). */
  add(value: string, role: ActivationRole, consumers?: ValueUse[], sharesParamsWith?: string, force = false): void {
    const all = consumers === undefined;
    const producer = this.index.producer(value);
    if (!force && producer && this.keep.has(producer.name)) return;
    const uses = (consumers ?? this.index.uses(value)).filter((u) => !this.keep.has(u.node));
    const existing = this.sites.get(value);
    if (existing) {
      if (roleRank(role) > roleRank(existing.role)) existing.role = role;
      if (sharesParamsWith) existing.sharesParamsWith ??= sharesParamsWith;
      for (const u of uses) {
        if (!existing.consumers.some((c) => c.node === u.node && c.input === u.input)) existing.consumers.push(u);
      }
      existing.graphOutput ||= all && this.index.isGraphOutput(value);
      return;
    }
    const bits =
      role === 'softmax' ? (this.options.softmaxBits ?? this.options.activationBits) : this.options.activationBits;
    const site: ActivationSite = {
      value,
      role,
      consumers: [...uses],
      graphOutput: all && this.index.isGraphOutput(value),
      bits,
      unsigned: true,
    };
    if (sharesParamsWith) site.sharesParamsWith = sharesParamsWith;
    this.sites.set(value, site);
  }

  /** Sites that some reader still sees, sorted in graph order. */
  finish(): ActivationSite[] {
    const order = new Map<string, number>();
    for (const [k, i] of this.index.graph.inputs.entries()) order.set(i.name, -1 - k);
    this.index.graph.nodes.forEach((n, k) => {
      for (const o of n.outputs) order.set(o, k);
    });
    const out: ActivationSite[] = [];
    for (const site of this.sites.values()) {
      if (site.consumers.length === 0 && !site.graphOutput) continue;
      out.push(site);
    }
    const kept = new Set(out.map((s) => s.value));
    for (const s of out) if (s.sharesParamsWith && !kept.has(s.sharesParamsWith)) delete s.sharesParamsWith;
    // Equal tensors get one set of parameters (so onnxruntime can also merge their identical quantizers).
    const key = valueKeys(this.index);
    const first = new Map<number, string>();
    for (const s of out) {
      const k = key(s.value);
      const f = first.get(k);
      if (f === undefined) first.set(k, s.value);
      else if (!s.sharesParamsWith && s.bits === out.find((o) => o.value === f)!.bits) s.sharesParamsWith = f;
    }
    // A site on its root's grid has its root's width (a pass-through of a 16-bit softmax output is 16-bit).
    const byValue = new Map(out.map((s) => [s.value, s]));
    for (const s of out) {
      let root = s;
      for (let k = 0; root.sharesParamsWith && k < 64; k++) root = byValue.get(root.sharesParamsWith)!;
      s.bits = root.bits;
    }
    return out.sort((a, b) => (order.get(a.value) ?? 0) - (order.get(b.value) ?? 0));
  }
}

/** When rules meet on one value, the role that says what produced it wins over "some conv reads it". */
function roleRank(role: ActivationRole): number {
  return role === 'conv-input' || role === 'linear-input'
    ? 0
    : role === 'conv-output' || role === 'linear-output'
      ? 1
      : 2;
}
