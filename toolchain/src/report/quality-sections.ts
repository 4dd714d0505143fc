/** Sections about what quantization did: samples, per-step and per-layer SQNR, activation ranges, kept-float. */
import { Buffer } from 'node:buffer';
import { type Column, section, table } from './blocks.ts';
import { activationRangeChart, layerSqnrChart, rangeLegend, reconChart, stepSqnrChart } from './charts.ts';
import { formatError, formatNumber, formatSeeds } from './format.ts';
import { type Html, html } from './html.ts';
import { mostTimeVarying } from './ranges.ts';
import { summarize } from './stats.ts';
import type { BuildReport, LayerStats, SampleGrid, StepSqnr } from './types.ts';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Width and height from the IHDR chunk; throws on bytes that are not a PNG (they would render as a broken image). */
export function pngSize(bytes: Uint8Array, what: string): { width: number; height: number } {
  if (bytes.length < 24 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b))
    throw new Error(`report: ${what} is not a PNG`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

function sampleFigure(grid: SampleGrid): Html {
  const { width, height } = pngSize(grid.gridPng, `sample grid of ${grid.variant}`);
  const src = `data:image/png;base64,${Buffer.from(grid.gridPng).toString('base64')}`;
  const psnr = summarize(grid.psnrDb ?? []);
  const psnrText = psnr
    ? ` · PSNR vs fp32 ${formatNumber(psnr.mean)} dB (min ${formatNumber(psnr.min)}, max ${formatNumber(psnr.max)})`
    : '';
  // NOTE: shown at up to 2x with nearest-neighbour scaling: tiny digits stay crisp instead of blurred.
  return html`<figure><img src="${src}" width="${width}" height="${height}" style="max-width:${Math.max(2 * width, 260)}px" alt="${grid.variant} samples, seeds ${formatSeeds(grid.seeds)}"><figcaption><b>${grid.variant}</b> · ${grid.seeds.length} samples, seeds ${formatSeeds(grid.seeds)}${psnrText}</figcaption></figure>`;
}

export function samplesSection(report: BuildReport): Html {
  if (report.samples.length === 0) {
    return section(
      'samples',
      'Samples',
      html`<p class="note">Not recorded: built with <code>--report-samples 0</code>. <code>toolchain table</code> compares the variants on the same seeds.</p>`,
    );
  }
  return section(
    'samples',
    'Samples from the same seeds',
    html`<p class="note">Every variant starts from the same seeded noise and sees the same noise at every step, so images in the same grid position should match; PSNR compares each image with its fp32 twin (uint8 pixels).</p><div class="samples">${report.samples.map(sampleFigure)}</div>`,
  );
}

export function stepSqnrSection(report: BuildReport, color: (v: string) => string): Html {
  if (report.stepSqnr.length === 0)
    return section('steps', 'Error along the trajectory', html`<p class="note">Not recorded.</p>`);
  const rows = report.stepSqnr.map((s) => {
    const sum = summarize(s.sqnrDb);
    return [s.variant, formatNumber(sum?.mean), formatNumber(sum?.min), formatNumber(sum?.max)];
  });
  const columns = [
    { label: 'variant' },
    { label: 'mean (dB)', num: true },
    { label: 'min', num: true },
    { label: 'max', num: true },
  ];
  const wide = report.stepSqnr.flatMap((s) => (s.wideSteps ? [wideStepsNote(s.variant, s.wideSteps)] : []));
  return section(
    'steps',
    'Error along the trajectory',
    html`<p class="note">SQNR of the model output ε of each quantized variant against fp32, both fed the fp32 trajectory's x<sub>t</sub> at each step (sampling runs from high t down to 0).</p>${stepSqnrChart(report.stepSqnr, color)}${table(columns, rows)}${wide}`,
  );
}

function wideStepsNote(variant: string, w: NonNullable<StepSqnr['wideSteps']>): Html {
  const where = [
    w.tAbove !== null ? `t > ${formatNumber(w.tAbove)}` : '',
    w.tBelow !== null ? `t < ${formatNumber(w.tBelow)}` : '',
  ].filter(Boolean);
  return html`<p class="note"><b>${variant}</b>: wide steps: the noisiest ${w.first} and the last ${w.last} of ${w.respacing} run the same integer weights with float activations (where ${where.join(' or ')}, the model time it is fed; the graph picks the branch itself), the other steps the 8-bit graph with its fused integer kernels. The first steps set most of the same-seed PSNR, the last ones the minimum SQNR above.</p>`;
}

export function rangesSection(report: BuildReport, count: number): Html {
  if (report.activationRanges.length === 0) {
    return section('ranges', 'Activation ranges across time steps', html`<p class="note">Not recorded.</p>`);
  }
  const shown = mostTimeVarying(report.activationRanges, count);
  return section(
    'ranges',
    'Activation ranges across time steps',
    html`<p class="note">The same layer sees very different activation ranges at different time steps, so a range fit to one step (or to all steps at once) wastes levels at the others: this is why diffusion models need time-aware calibration. Shown: the ${shown.length} of ${report.activationRanges.length} recorded sites whose range width varies most across steps.</p>${rangeLegend()}<div class="charts">${shown.map(activationRangeChart)}</div>`,
  );
}

/** Rows of the layer table; `index` is the layer's position in graph order (the chart's x). */
/** Which optional columns a variant's layer table has: each only where some layer has the value. */
interface LayerColumns {
  activation: boolean;
  recon: boolean;
}

function layerRows(rows: readonly { layer: LayerStats; index: number }[], has: LayerColumns): (string | Html)[][] {
  return rows.map(({ layer: l, index }) => [
    String(index),
    html`<code>${l.name}</code>`,
    l.kind,
    formatNumber(l.weightSqnrDb),
    ...(has.activation ? [formatNumber(l.activationSqnrDb)] : []),
    ...(has.recon ? [formatError(l.reconBefore), formatError(l.reconAfter)] : []),
  ]);
}

function layerColumns(has: LayerColumns): Column[] {
  return [
    { label: '#', num: true },
    { label: 'layer' },
    { label: 'kind' },
    { label: 'weight SQNR (dB)', num: true },
    ...(has.activation ? [{ label: 'activation SQNR (dB)', num: true }] : []),
    ...(has.recon
      ? [
          { label: 'recon error before', num: true },
          { label: 'after', num: true },
        ]
      : []),
  ];
}

/** The layers with the lowest SQNR (weight or activation): where a user would look first. */
function worstLayers(layers: readonly LayerStats[], count: number): { layer: LayerStats; index: number }[] {
  const score = (l: LayerStats): number =>
    Math.min(l.weightSqnrDb ?? Number.POSITIVE_INFINITY, l.activationSqnrDb ?? Number.POSITIVE_INFINITY);
  return layers
    .map((layer, index) => ({ layer, index }))
    .filter((r) => Number.isFinite(score(r.layer)))
    .sort((a, b) => score(a.layer) - score(b.layer))
    .slice(0, count);
}

function variantLayers(variant: string, layers: readonly LayerStats[]): Html {
  const recon = layers.some((l) => l.reconBefore !== undefined || l.reconAfter !== undefined);
  // NOTE: ptq4dm quantizes layer outputs, so its layers read float inputs: no activation column there.
  const has = { recon, activation: layers.some((l) => l.activationSqnrDb !== undefined) };
  const columns = layerColumns(has);
  const all = layers.map((layer, index) => ({ layer, index }));
  const reconPlot = recon
    ? html`<h3>${variant}: reconstruction error per layer</h3>${reconChart(variant, layers)}`
    : '';
  return html`<h3>${variant}</h3>${layerSqnrChart(variant, layers)}
<p class="note">Lowest SQNR in ${variant}:</p>${table(columns, layerRows(worstLayers(layers, 5), has))}${reconPlot}
<details><summary>All ${layers.length} layers of ${variant}</summary>${table(columns, layerRows(all, has))}</details>`;
}

export function layersSection(report: BuildReport): Html {
  const variants = [...new Set(report.layers.map((l) => l.variant))];
  if (variants.length === 0) return section('layers', 'Per-layer error', html`<p class="note">Not recorded.</p>`);
  return section(
    'layers',
    'Per-layer error',
    html`<p class="note">Weight SQNR: the quantized weights against the float weights. Activation SQNR: the quantizer on the layer's input (ptq4dm, which quantizes only layer outputs: on its output), its dequantized value against the float value entering it in the quantized model, on the evaluated calibration pairs: the quantizer's own error, not the error of the layers before it. Reconstruction error: the layer's output mean squared error with round-to-nearest weights (before) and after GPTQ/AdaRound (after). Exact (infinite) values are not plotted.</p>${variants.map(
      (v) =>
        variantLayers(
          v,
          report.layers.filter((l) => l.variant === v),
        ),
    )}`,
  );
}

export function keptFloatSection(report: BuildReport): Html {
  if (report.keptFloat.length === 0) {
    return section('float', 'Left in float', html`<p class="note">Nothing was left in float.</p>`);
  }
  const groups = new Map<string, { variant: string; reason: string; names: string[] }>();
  for (const k of report.keptFloat) {
    const key = JSON.stringify([k.variant, k.reason]);
    const group = groups.get(key) ?? { variant: k.variant, reason: k.reason, names: [] };
    group.names.push(k.name);
    groups.set(key, group);
  }
  const rows = [...groups.values()].map((g) => [
    g.variant,
    g.reason,
    String(g.names.length),
    html`${g.names.map((n, i) => html`${i > 0 ? ', ' : ''}<code>${n}</code>`)}`,
  ]);
  const columns = [
    { label: 'variant' },
    { label: 'reason' },
    { label: 'count', num: true },
    { label: 'tensors / nodes' },
  ];
  return section('float', 'Left in float', table(columns, rows));
}
