import { describe, expect, it } from 'vitest';
import { formatNumber, formatSeeds } from './format.ts';
import { escapeHtml, html, raw } from './html.ts';
import { linearScale, logScale, niceStep, tickLabel } from './scale.ts';
import { plot } from './svg.ts';

const NICE = [1, 2, 5];
const isNice = (step: number): boolean => {
  const power = 10 ** Math.floor(Math.log10(step) + 1e-12);
  return NICE.some((m) => Math.abs(step / power - m) < 1e-9) || Math.abs(step / power - 10) < 1e-9;
};

describe('scale', () => {
  it('niceStep is the smallest 1/2/5 x 10^k at or above span/count', () => {
    for (const [span, count] of [
      [1, 5],
      [49, 10],
      [0.0037, 5],
      [12345, 4],
      [7, 7],
    ]) {
      const step = niceStep(span, count);
      expect(isNice(step)).toBe(true);
      expect(step).toBeGreaterThanOrEqual((span / count) * (1 - 1e-12));
      // every smaller nice value (enumerated independently) is below span/count
      const candidates = [-6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5].flatMap((e) => NICE.map((m) => m * 10 ** e));
      for (const c of candidates.filter((c) => c < step * (1 - 1e-9))) expect(c).toBeLessThan(span / count);
    }
  });

  it('a nice linear domain covers the data with evenly spaced round ticks from end to end', () => {
    const s = linearScale([-3.7, 41.2]);
    expect(s.domain[0]).toBeLessThanOrEqual(-3.7);
    expect(s.domain[1]).toBeGreaterThanOrEqual(41.2);
    expect(s.ticks[0]).toBe(s.domain[0]);
    expect(s.ticks.at(-1)).toBe(s.domain[1]);
    const step = s.ticks[1] - s.ticks[0];
    expect(isNice(step)).toBe(true);
    for (let i = 1; i < s.ticks.length; i++) expect(s.ticks[i] - s.ticks[i - 1]).toBeCloseTo(step, 9);
    expect(s.unit(s.domain[0])).toBe(0);
    expect(s.unit(s.domain[1])).toBe(1);
  });

  it('a plain linear domain is the data extent, ticks inside it (a step axis must not start at -10)', () => {
    const s = linearScale([-0.5, 49.5], 5, false);
    expect(s.domain).toEqual([-0.5, 49.5]);
    expect(s.ticks[0]).toBe(0);
    expect(s.ticks.every((t) => t >= -0.5 && t <= 49.5)).toBe(true);
  });

  it('pads a constant series and removes float noise from ticks', () => {
    const s = linearScale([0.3, 0.3]);
    expect(s.domain[0]).toBeLessThan(0.3);
    expect(s.domain[1]).toBeGreaterThan(0.3);
    const labels = linearScale([0, 0.7]).ticks.map((t) => tickLabel(t, linearScale([0, 0.7])));
    expect(labels.every((l) => l.length <= 4)).toBe(true);
  });

  it('log domain covers the data in whole decades with power-of-ten ticks', () => {
    const s = logScale([3.2e-7, 4.1e-5]);
    expect(s.domain[0]).toBeLessThanOrEqual(3.2e-7);
    expect(s.domain[1]).toBeGreaterThanOrEqual(4.1e-5);
    for (const t of s.ticks.filter((t) => Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9)) {
      expect(tickLabel(t, s)).toMatch(/^10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+$|^1$|^10+$/);
    }
    expect(tickLabel(1e-6, s)).toBe('10⁻⁶');
  });
});

/** The axis line and the coordinates of a path, read back from the SVG text. */
function axisBottom(svg: string): { y: number; x1: number; x2: number } {
  const m = /<line class="axis" x1="([\d.]+)" x2="([\d.]+)" y1="([\d.]+)" y2="\3"\/>/.exec(svg);
  if (!m) throw new Error('no x axis line');
  return { x1: Number(m[1]), x2: Number(m[2]), y: Number(m[3]) };
}

function pathPoints(d: string): { cmd: string; x: number; y: number }[] {
  return [...d.matchAll(/([ML])([\d.-]+) ([\d.-]+)/g)].map((m) => ({ cmd: m[1], x: Number(m[2]), y: Number(m[3]) }));
}

describe('plot', () => {
  const spec = (ys: number[], log = false) =>
    plot({
      title: 't',
      x: { label: 'x' },
      y: { label: 'y', log },
      lines: [{ cls: 'c1', xs: ys.map((_, i) => i), ys }],
    }).value;

  it('draws the lowest point of a nice domain on the axis and the last x at its right end', () => {
    const svg = spec([0, 10, 20, 40]);
    const axis = axisBottom(svg);
    const d = /class="line c1" d="([^"]*)"/.exec(svg)![1];
    const pts = pathPoints(d);
    expect(pts).toHaveLength(4);
    expect(pts[0].y).toBeCloseTo(axis.y, 1);
    expect(pts[0].x).toBeCloseTo(axis.x1, 1);
    expect(pts[3].x).toBeCloseTo(axis.x2, 1);
    // linear: equal data steps are equal pixel steps
    expect(pts[1].y - pts[2].y).toBeCloseTo(pts[0].y - pts[1].y, 0);
    expect(pts[3].y).toBeLessThan(pts[2].y);
  });

  it('breaks a line at NaN and drops non-positive values on a log axis', () => {
    const svg = spec([1, 2, Number.NaN, 4, 5]);
    const d = /class="line c1" d="([^"]*)"/.exec(svg)![1];
    expect(pathPoints(d).map((p) => p.cmd)).toEqual(['M', 'L', 'M', 'L']);
    const logSvg = spec([1e-3, 0, -1, 1e-1], true);
    const logD = /class="line c1" d="([^"]*)"/.exec(logSvg)![1];
    expect(pathPoints(logD)).toHaveLength(2);
  });

  it('bars are proportional to their counts from a zero baseline, zero counts drawn as nothing', () => {
    const svg = plot({
      title: 'h',
      x: { label: 'x' },
      y: { label: 'y', include: [0] },
      bars: [{ cls: 'chist', xs: [0, 1, 2], ys: [4, 0, 8] }],
    }).value;
    const heights = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"\/>/g)].map((m) =>
      Number(m[1]),
    );
    expect(heights).toHaveLength(2);
    expect(heights[1] / heights[0]).toBeCloseTo(2, 1);
  });

  it('escapes dot tooltips, titles and marker labels', () => {
    const svg = plot({
      title: 'a <b>',
      x: { label: '<x>' },
      y: { label: 'y' },
      dots: [{ cls: 'cw', xs: [0], ys: [1], titles: ['<script>alert(1)</script>'] }],
      markers: [{ x: 0, label: '<img onerror=x>' }],
    }).value;
    expect(svg).not.toMatch(/<script|<img|<b>|<x>/);
    expect(svg).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});

describe('html and format', () => {
  it('escapes interpolations unless marked raw', () => {
    expect(html`<td>${'a<b & "c"'}</td>`.value).toBe('<td>a&lt;b &amp; &quot;c&quot;</td>');
    expect(html`${raw('<i>')}${['<', 1]}`.value).toBe('<i>&lt;1');
    expect(escapeHtml("'")).toBe('&#39;');
  });

  it('formats special values and folds seed runs', () => {
    expect(formatNumber(Number.POSITIVE_INFINITY)).toBe('∞');
    expect(formatNumber(Number.NaN)).toBe('—');
    expect(formatSeeds([0, 1, 2, 3, 7, 9, 10])).toBe('0–3, 7, 9–10');
    expect(formatSeeds([5])).toBe('5');
  });
});
