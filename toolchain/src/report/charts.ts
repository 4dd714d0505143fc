/** The report's four kinds of chart (plus reconstruction error), built from `BuildReport` parts with `plot`. */
import { formatError, formatNumber } from './format.ts';
import { type Html, html } from './html.ts';
import type { SiteVariation } from './ranges.ts';
import { legend, plot } from './svg.ts';
import type { LayerStats, StepSqnr } from './types.ts';

const STEP_AXIS = 'time step t (respaced index)';

/** Variant -> color class, stable across every chart of one report. */
export function variantColors(names: readonly string[]): (variant: string) => string {
  const order = [...new Set(names)];
  return (variant) => {
    let i = order.indexOf(variant);
    if (i < 0) i = order.push(variant) - 1;
    return `c${i % 8}`;
  };
}

export function activationRangeChart(site: SiteVariation): Html {
  const { steps, min, max } = site.range;
  const svg = plot({
    title: `Activation range of ${site.range.site} across time steps`,
    width: 380,
    height: 240,
    x: { label: STEP_AXIS },
    y: { label: 'activation value' },
    bands: [{ cls: 'cmax', xs: steps, lower: min, upper: max }],
    lines: [
      { cls: 'cmax', xs: steps, ys: max },
      { cls: 'cmin', xs: steps, ys: min },
    ],
  });
  return html`<figure><h3><code>${site.range.site}</code></h3>${svg}<figcaption>range width varies ×${formatNumber(site.widthRatio, 1)} across steps; overall ${formatNumber(site.overallMin, 3)} … ${formatNumber(site.overallMax, 3)}</figcaption></figure>`;
}

export function rangeLegend(): Html {
  return legend([
    { cls: 'cmax', label: 'max over the calibration samples at a step' },
    { cls: 'cmin', label: 'min' },
  ]);
}

export function stepSqnrChart(series: readonly StepSqnr[], color: (v: string) => string): Html {
  const svg = plot({
    title: 'Epsilon SQNR of each quantized variant against fp32 at every step of the same trajectory',
    height: 290,
    x: { label: STEP_AXIS },
    y: { label: 'ε SQNR (dB)' },
    lines: series.map((s) => ({ cls: color(s.variant), xs: s.step, ys: s.sqnrDb })),
  });
  return html`${svg}${legend(series.map((s) => ({ cls: color(s.variant), label: s.variant })))}`;
}

export function stepHistogramChart(counts: readonly number[]): Html {
  const xs = counts.map((_, i) => i);
  return plot({
    title: 'Calibration samples per time step',
    height: 250,
    x: { label: STEP_AXIS },
    y: { label: 'samples', include: [0] },
    bars: [{ cls: 'chist', xs, ys: counts }],
  });
}

/** Where each top-level module (`input_blocks`, `middle_block`, ...) starts, to label the layer axis. */
function moduleMarkers(layers: readonly LayerStats[]): { x: number; label: string }[] {
  const markers: { x: number; label: string }[] = [];
  let previous = '';
  layers.forEach((layer, i) => {
    const top = layer.name.split('.')[0];
    if (top !== previous) markers.push({ x: i, label: top });
    previous = top;
  });
  // NOTE: a marker per layer would be noise (models whose names have no dotted prefix); keep only a few.
  return markers.length <= 8 ? markers : [];
}

export function layerSqnrChart(variant: string, layers: readonly LayerStats[]): Html {
  const xs = layers.map((_, i) => i);
  const tip = (l: LayerStats, what: string, v: number | undefined): string =>
    `${l.name} (${l.kind}): ${what} ${formatNumber(v)} dB`;
  const svg = plot({
    title: `Per-layer weight and activation SQNR of ${variant}`,
    height: 290,
    x: { label: 'layer (graph order)' },
    y: { label: 'SQNR (dB)' },
    markers: moduleMarkers(layers),
    dots: [
      {
        cls: 'cw',
        xs,
        ys: layers.map((l) => l.weightSqnrDb ?? Number.NaN),
        titles: layers.map((l) => tip(l, 'weight', l.weightSqnrDb)),
      },
      {
        cls: 'ca',
        shape: 'square',
        xs,
        ys: layers.map((l) => l.activationSqnrDb ?? Number.NaN),
        titles: layers.map((l) => tip(l, 'activation', l.activationSqnrDb)),
      },
    ],
  });
  return html`${svg}${legend([
    { cls: 'cw', label: 'weight SQNR', shape: 'dot' },
    { cls: 'ca', label: 'activation SQNR', shape: 'square' },
  ])}`;
}

export function reconChart(variant: string, layers: readonly LayerStats[]): Html {
  const xs = layers.map((_, i) => i);
  const tip = (l: LayerStats): string => `${l.name}: ${formatError(l.reconBefore)} → ${formatError(l.reconAfter)}`;
  const svg = plot({
    title: `Per-layer output reconstruction error of ${variant} before and after weight rounding`,
    height: 290,
    x: { label: 'layer (graph order)' },
    y: { label: 'output MSE (log)', log: true },
    markers: moduleMarkers(layers),
    dots: [
      { cls: 'cbefore', xs, ys: layers.map((l) => l.reconBefore ?? Number.NaN), titles: layers.map(tip) },
      {
        cls: 'cafter',
        shape: 'square',
        xs,
        ys: layers.map((l) => l.reconAfter ?? Number.NaN),
        titles: layers.map(tip),
      },
    ],
  });
  return html`${svg}${legend([
    { cls: 'cbefore', label: 'round to nearest', shape: 'dot' },
    { cls: 'cafter', label: 'after reconstruction', shape: 'square' },
  ])}`;
}
