/**
 * Small inline-SVG charts: one `plot` that draws axes plus any mix of lines, bands, dots and bars. Colors come
 * from CSS classes (`c0`..`c7`) in the report's stylesheet, so the SVG carries no styling of its own and follows
 * light and dark mode. Coordinates are rounded to 0.1 px to keep the file small.
 */
import { type Html, html, raw } from './html.ts';
import { extent, linearScale, logScale, type Scale, tickLabel } from './scale.ts';

export interface Axis {
  label: string;
  log?: boolean;
  /** Force these values inside the domain (e.g. 0 for counts). */
  include?: number[];
  /** Widen a linear domain to whole ticks (default: true for y, false for x). */
  nice?: boolean;
}

export interface LineSeries {
  cls: string;
  xs: readonly number[];
  ys: readonly number[];
}

export interface BandSeries {
  cls: string;
  xs: readonly number[];
  lower: readonly number[];
  upper: readonly number[];
}

export interface DotSeries {
  cls: string;
  xs: readonly number[];
  ys: readonly number[];
  /** Tooltip per dot (user text: escaped). */
  titles?: readonly string[];
  shape?: 'circle' | 'square';
}

export interface BarSeries {
  cls: string;
  /** Bar centers; each bar is one x unit wide. */
  xs: readonly number[];
  ys: readonly number[];
}

export interface Plot {
  /** Accessible name of the chart. */
  title: string;
  width?: number;
  height?: number;
  x: Axis;
  y: Axis;
  bands?: BandSeries[];
  lines?: LineSeries[];
  dots?: DotSeries[];
  bars?: BarSeries[];
  /** Vertical separators with a label, e.g. where `middle_block` starts. */
  markers?: { x: number; label: string }[];
}

const MARGIN = { left: 62, right: 16, top: 14, bottom: 46 };

interface Frame {
  sx: Scale;
  sy: Scale;
  left: number;
  top: number;
  innerW: number;
  innerH: number;
}

const px = (v: number): string => String(Math.round(v * 10) / 10);

function xValues(plot: Plot): number[] {
  const xs: number[] = [...(plot.x.include ?? [])];
  for (const s of [...(plot.lines ?? []), ...(plot.dots ?? []), ...(plot.bands ?? [])]) xs.push(...s.xs);
  for (const s of plot.bars ?? []) for (const x of s.xs) xs.push(x - 0.5, x + 0.5);
  return xs;
}

function yValues(plot: Plot): number[] {
  const ys: number[] = [...(plot.y.include ?? [])];
  for (const s of [...(plot.lines ?? []), ...(plot.dots ?? []), ...(plot.bars ?? [])]) ys.push(...s.ys);
  for (const s of plot.bands ?? []) ys.push(...s.lower, ...s.upper);
  return ys;
}

function scaleFor(axis: Axis, values: number[], ticks: number, nice: boolean): Scale {
  return axis.log ? logScale(extent(values, true)) : linearScale(extent(values), ticks, axis.nice ?? nice);
}

function frame(plot: Plot, width: number, height: number): Frame {
  return {
    sx: scaleFor(plot.x, xValues(plot), width >= 500 ? 10 : 5, false),
    sy: scaleFor(plot.y, yValues(plot), 5, true),
    left: MARGIN.left,
    top: MARGIN.top,
    innerW: width - MARGIN.left - MARGIN.right,
    innerH: height - MARGIN.top - MARGIN.bottom,
  };
}

/** Pixel position, or undefined for values the axis cannot show (non-finite, or <= 0 on a log axis). */
function toX(f: Frame, v: number): number | undefined {
  if (!Number.isFinite(v) || (f.sx.log && v <= 0)) return undefined;
  return f.left + f.sx.unit(v) * f.innerW;
}

function toY(f: Frame, v: number): number | undefined {
  if (!Number.isFinite(v) || (f.sy.log && v <= 0)) return undefined;
  return f.top + (1 - f.sy.unit(v)) * f.innerH;
}

function axes(f: Frame, plot: Plot, height: number): Html {
  const bottom = f.top + f.innerH;
  const right = f.left + f.innerW;
  const yTicks = f.sy.ticks.map((t) => {
    const y = px(toY(f, t)!);
    return raw(
      `<line class="grid" x1="${f.left}" x2="${px(right)}" y1="${y}" y2="${y}"/>` +
        `<text class="tick" x="${f.left - 6}" y="${y}" text-anchor="end" dy="0.32em">${tickLabel(t, f.sy)}</text>`,
    );
  });
  const xTicks = f.sx.ticks.map((t) => {
    const x = px(toX(f, t)!);
    return raw(
      `<line class="axis" x1="${x}" x2="${x}" y1="${px(bottom)}" y2="${px(bottom + 4)}"/>` +
        `<text class="tick" x="${x}" y="${px(bottom + 18)}" text-anchor="middle">${tickLabel(t, f.sx)}</text>`,
    );
  });
  return html`${yTicks}${xTicks}<line class="axis" x1="${f.left}" x2="${px(right)}" y1="${px(bottom)}" y2="${px(bottom)}"/>
<text class="label" x="${px(f.left + f.innerW / 2)}" y="${height - 6}" text-anchor="middle">${plot.x.label}</text>
<text class="label" transform="translate(13 ${px(f.top + f.innerH / 2)}) rotate(-90)" text-anchor="middle">${plot.y.label}</text>`;
}

/** Path through the points, broken wherever a point cannot be drawn. */
function pathData(f: Frame, xs: readonly number[], ys: readonly number[]): string {
  let d = '';
  let pen = false;
  for (let i = 0; i < xs.length; i++) {
    const x = toX(f, xs[i]);
    const y = toY(f, ys[i]);
    if (x === undefined || y === undefined) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${px(x)} ${px(y)}`;
    pen = true;
  }
  return d;
}

function bandPath(f: Frame, band: BandSeries): string {
  const upper = pathData(f, band.xs, band.upper);
  const lower = pathData(f, [...band.xs].reverse(), [...band.lower].reverse());
  // NOTE: only a gap-free band closes into one polygon; with gaps the lines alone carry the information.
  if (!upper || !lower || upper.indexOf('M', 1) > 0 || lower.indexOf('M', 1) > 0) return '';
  return `${upper}L${lower.slice(1)}Z`;
}

function dot(x: number, y: number, shape: DotSeries['shape']): string {
  if (shape === 'square') return `<rect x="${px(x - 2.4)}" y="${px(y - 2.4)}" width="4.8" height="4.8"`;
  return `<circle cx="${px(x)}" cy="${px(y)}" r="2.6"`;
}

function dotMarks(f: Frame, s: DotSeries): Html {
  const marks: Html[] = [];
  for (let i = 0; i < s.xs.length; i++) {
    const x = toX(f, s.xs[i]);
    const y = toY(f, s.ys[i]);
    if (x === undefined || y === undefined) continue;
    const title = s.titles?.[i];
    const open = raw(dot(x, y, s.shape));
    const tag = raw(s.shape === 'square' ? 'rect' : 'circle');
    marks.push(title === undefined ? html`${open}/>` : html`${open}><title>${title}</title></${tag}>`);
  }
  return html`<g class="dot ${s.cls}">${marks}</g>`;
}

function barMarks(f: Frame, s: BarSeries): Html {
  const base = toY(f, f.sy.log ? f.sy.domain[0] : Math.max(f.sy.domain[0], 0))!;
  const unitW = f.innerW * (f.sx.unit(1) - f.sx.unit(0));
  const w = Math.max(1, unitW * 0.86);
  let rects = '';
  for (let i = 0; i < s.xs.length; i++) {
    const x = toX(f, s.xs[i]);
    const y = toY(f, s.ys[i]);
    if (x === undefined || y === undefined || s.ys[i] === 0) continue;
    rects += `<rect x="${px(x - w / 2)}" y="${px(Math.min(y, base))}" width="${px(w)}" height="${px(Math.abs(base - y))}"/>`;
  }
  return html`<g class="bar ${s.cls}">${raw(rects)}</g>`;
}

interface MarkerLabel {
  x: number;
  row: number;
  flip: boolean;
  label: string;
}

/** Places marker labels in rows above the plot; a label that would overlap another drops to the next row. */
function layoutMarkers(f: Frame, markers: NonNullable<Plot['markers']>): MarkerLabel[] {
  const right = f.left + f.innerW;
  const rowEnds: number[] = [];
  return markers.flatMap((m) => {
    const x = toX(f, m.x);
    if (x === undefined) return [];
    // NOTE: text width is a guess (no layout engine here): generous enough for the larger phone font.
    const width = 9.5 * m.label.length;
    const flip = x + 3 + width > right;
    const start = flip ? x - 3 - width : x + 3;
    let row = rowEnds.findIndex((end) => end < start);
    if (row < 0) row = rowEnds.push(0) - 1;
    rowEnds[row] = start + width;
    return [{ x, row, flip, label: m.label }];
  });
}

const MARKER_ROW = 17;

function markerMarks(f: Frame, labels: readonly MarkerLabel[], rows: number): Html[] {
  const labelTop = f.top - rows * MARKER_ROW;
  return labels.map(
    (m) =>
      html`<line class="marker" x1="${px(m.x)}" x2="${px(m.x)}" y1="${px(labelTop + MARKER_ROW * m.row)}" y2="${px(f.top + f.innerH)}"/><text class="marker-label" x="${px(m.flip ? m.x - 3 : m.x + 3)}" y="${px(labelTop + 12 + MARKER_ROW * m.row)}" text-anchor="${m.flip ? 'end' : 'start'}">${m.label}</text>`,
  );
}

export function plot(spec: Plot): Html {
  const width = spec.width ?? 640;
  const height = spec.height ?? 300;
  const size = width >= 500 ? 'wide' : 'small';
  const f = frame(spec, width, height);
  // Marker labels get their own rows above the data, so they never cover a point.
  const labels = layoutMarkers(f, spec.markers ?? []);
  const rows = labels.reduce((n, m) => Math.max(n, m.row + 1), 0);
  f.top += rows * MARKER_ROW;
  f.innerH -= rows * MARKER_ROW;
  const bands = (spec.bands ?? []).map((b) => {
    const d = bandPath(f, b);
    return d ? html`<path class="band ${b.cls}" d="${d}"/>` : '';
  });
  const lines = (spec.lines ?? []).map((l) => html`<path class="line ${l.cls}" d="${pathData(f, l.xs, l.ys)}"/>`);
  return html`<svg class="chart ${size}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${spec.title}">
<title>${spec.title}</title>${axes(f, spec, height)}${markerMarks(f, labels, rows)}${bands}${(spec.bars ?? []).map((b) => barMarks(f, b))}${lines}${(spec.dots ?? []).map((d) => dotMarks(f, d))}</svg>`;
}

/** HTML legend placed under a chart: a swatch in the series color, then the label. */
export function legend(items: { cls: string; label: string; shape?: 'line' | 'dot' | 'square' }[]): Html {
  return html`<ul class="legend">${items.map((i) => html`<li><span class="sw ${i.shape ?? 'line'} ${i.cls}"></span>${i.label}</li>`)}</ul>`;
}
