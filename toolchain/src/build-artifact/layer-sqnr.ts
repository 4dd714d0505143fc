/**
 * Each quantized layer's activation SQNR for the report's per-layer table: the SQNR of the activation quantizer
 * that belongs to the layer, joined by the value it quantizes. That is the quantizer on the value the layer reads
 * (full, qdiff); ptq4dm quantizes layer outputs, so there it is the quantizer on the value the layer writes. A value
 * that a Reshape, Resize or Split moved from an already quantized one shares that one's parameters and adds no
 * error of its own (its own SQNR is infinite), so the layer gets the quantizer that rounded it.
 * The number is the quantizer's own error (its dequantized value against the float value entering it, in the
 * quantized model on the evaluated calibration pairs), not the error accumulated through the layers before it.
 */
import type { ActivationReport } from '../quantize/pipeline.ts';
import type { QuantPlan } from '../quantize/plan/plan.ts';

export interface LayerActivationSqnr {
  db: number;
  /** Which of the layer's values the quantizer belongs to. */
  at: 'input' | 'output';
  /** The value whose quantizer rounded it (the site itself, or the one whose parameters it shares). */
  value: string;
}

/** By layer (node) name; a layer with no measured quantizer on its input or output is absent. */
export function layerActivationSqnr(
  plan: Pick<QuantPlan, 'weights' | 'scheme'>,
  activations: readonly Pick<ActivationReport, 'value' | 'quantizerSqnrDb' | 'sharesParamsWith'>[],
): Map<string, LayerActivationSqnr> {
  const byValue = new Map(activations.map((a) => [a.value, a]));
  // Follow shared parameters to the site that rounds the value (chains are short; `seen` stops a cycle).
  const rounding = (value: string) => {
    let site = byValue.get(value);
    const seen = new Set<string>();
    while (site?.sharesParamsWith && !seen.has(site.value) && byValue.has(site.sharesParamsWith)) {
      seen.add(site.value);
      site = byValue.get(site.sharesParamsWith);
    }
    return site;
  };
  const out = new Map<string, LayerActivationSqnr>();
  for (const w of plan.weights) {
    // ptq4dm quantizes layer outputs only (a layer's input quantizer, if any, is the previous layer's output).
    const at = plan.scheme === 'ptq4dm' ? 'output' : 'input';
    const own = byValue.get(at === 'input' ? w.inputValue : w.outputValue);
    if (!own) continue;
    const site = rounding(own.value);
    if (!site || Number.isNaN(site.quantizerSqnrDb)) continue;
    out.set(w.node, { db: site.quantizerSqnrDb, at, value: site.value });
  }
  return out;
}
