import { Buffer } from 'node:buffer';
import { decodePng } from '@qdm/shared';
import { describe, expect, it } from 'vitest';
import { mostTimeVarying, siteVariation } from './ranges.ts';
import { type BuildReport, renderReport } from './report.ts';
import { syntheticReport } from './test-report.ts';

const VOID = new Set(['meta', 'img', 'br', 'hr', 'input', 'link', 'source', 'wbr']);
const SVG_LEAF = /\/>$/;

/** A minimal well-formedness check: every non-void open tag has its close tag, in order. */
function unbalancedTags(doc: string): string[] {
  const body = doc.replace(/<style>[\s\S]*?<\/style>/, '<style></style>').replace(/<!doctype html>/i, '');
  const stack: string[] = [];
  const problems: string[] = [];
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][\w-]*)([^>]*)>/g)) {
    const [tag, closing, name] = [m[0], m[1] === '/', m[2].toLowerCase()];
    if (VOID.has(name) || SVG_LEAF.test(tag)) continue;
    if (!closing) stack.push(name);
    else if (stack.pop() !== name) problems.push(`unexpected </${name}>`);
  }
  return [...problems, ...stack.map((s) => `unclosed <${s}>`)];
}

/** The page with base64 image data cut out (random base64 can spell anything). */
function withoutImages(doc: string): string {
  return doc.replace(/data:image\/png;base64,[A-Za-z0-9+/=]+/g, 'data:image/png;base64,');
}

const HOSTILE = '<script>alert("x")</script>';

function hostileReport(): BuildReport {
  const r = syntheticReport();
  r.artifact.name = `evil ${HOSTILE}`;
  r.artifact.flags.note = HOSTILE;
  r.layers[3].name = HOSTILE;
  r.layers[3].kind = '<img src=x onerror=alert(1)>';
  r.activationRanges[0].site = HOSTILE;
  r.keptFloat.push({ variant: 'int8', name: HOSTILE, reason: `because ${HOSTILE}` });
  r.phases[0].name = HOSTILE;
  r.metrics = { [HOSTILE]: HOSTILE };
  return r;
}

describe('renderReport', () => {
  const report = syntheticReport();
  const page = renderReport(report);

  it('is one well-formed HTML document', () => {
    expect(page.startsWith('<!doctype html>')).toBe(true);
    expect(unbalancedTags(page)).toEqual([]);
    expect(page.match(/<html/g)).toHaveLength(1);
    expect(page).toContain('<meta name="viewport"');
  });

  it('references nothing outside the file', () => {
    const text = withoutImages(page);
    expect(text.match(/.{0,40}(https?:\/\/|<script|<link|<iframe|@import|url\().{0,40}/i)?.[0]).toBeUndefined();
    for (const m of page.matchAll(/\s(?:src|href)="([^"]*)"/g)) expect(m[1]).toMatch(/^(data:image\/png;base64,|#)/);
  });

  it('embeds every sample grid as a data: URI that decodes to the same PNG', () => {
    const uris = [...page.matchAll(/src="data:image\/png;base64,([A-Za-z0-9+/=]+)"/g)].map((m) => m[1]);
    expect(uris).toHaveLength(report.samples.length);
    report.samples.forEach((s, i) => {
      const bytes = new Uint8Array(Buffer.from(uris[i], 'base64'));
      expect(bytes).toEqual(s.gridPng);
      const decoded = decodePng(bytes);
      expect(page).toContain(`width="${decoded.width}" height="${decoded.height}"`);
    });
  });

  it('shows the numbers it was given', () => {
    const layer = report.layers.find((l) => l.variant === 'w4a8')!;
    expect(page).toContain(`>${layer.weightSqnrDb!.toFixed(2)}<`);
    expect(page).toContain(`>${layer.activationSqnrDb!.toFixed(2)}<`);
    expect(page).toContain(`>${layer.reconBefore!.toExponential(2)}<`);
    expect(page).toContain(`>${layer.reconAfter!.toExponential(2)}<`);
    for (const v of report.variants) expect(page).toContain(`title="${v.bytes} bytes"`);
    expect(page).toContain('QLinearConv 41 · MatMulInteger 2');
    // same-seed PSNR: the mean of the given per-image values
    const psnr = report.samples[1].psnrDb!;
    const mean = psnr.reduce((a, b) => a + b, 0) / psnr.length;
    expect(page).toContain(`PSNR vs fp32 ${mean.toFixed(2)} dB`);
    expect(page).toContain(`>${report.calibration!.samples}<`);
    expect(page).toContain(`>${report.calibration!.policy}<`);
    expect(page).toContain('>1 min 14 s<'); // 74.2 s phase
    expect(page).toContain('>1710 MB<'); // peak RSS over phases
    for (const k of report.keptFloat) expect(page).toContain(`<code>${k.name}</code>`);
    expect(page).toContain('GroupNorm statistics need float');
    expect(page).toContain('>0.21<');
    expect(page).toContain(
      'the noisiest 1 and the last 4 of ddim50 run the same integer weights with float activations',
    );
    expect(page).toContain('where t &gt; 970.00 or t &lt; 70.00');
  });

  it('draws the four charts: ranges, per-layer SQNR, per-step SQNR, step histogram', () => {
    expect(page).toMatch(/aria-label="Activation range of [^"]+ across time steps"/);
    expect(page).toContain('aria-label="Per-layer weight and activation SQNR of int8"');
    expect(page).toContain('aria-label="Epsilon SQNR of each quantized variant');
    expect(page).toContain('aria-label="Calibration samples per time step"');
    expect(page).toContain('aria-label="Per-layer output reconstruction error of w4a8');
    // one bar per step that holds samples
    const hist = /aria-label="Calibration samples per time step"[\s\S]*?<\/svg>/.exec(page)![0];
    const nonEmpty = report.calibration!.stepHistogram.filter((n) => n > 0).length;
    expect(hist.match(/<rect /g)).toHaveLength(nonEmpty);
  });

  it('escapes every string that comes from the checkpoint or the build', () => {
    const html = withoutImages(renderReport(hostileReport()));
    expect(html.match(/.{0,40}(<script|<img src=x).{0,40}/i)?.[0]).toBeUndefined();
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(unbalancedTags(html)).toEqual([]);
  });

  it('stays small for mnist32 with two 8x8 grids', () => {
    const r = syntheticReport({ steps: 250, sites: 120 });
    r.samples = r.samples.slice(0, 2);
    expect(renderReport(r).length).toBeLessThan(2 * 1024 * 1024);
  });

  it('renders an almost empty report and says what was not recorded', () => {
    const r: BuildReport = {
      artifact: { name: 'bare', createdAt: '2025-01-01', parameters: 10, imageSize: 8, flags: {} },
      variants: [{ name: 'fp32', file: 'fp32.onnx', bytes: 100, precision: 'fp32' }],
      layers: [],
      activationRanges: [],
      stepSqnr: [],
      samples: [],
      keptFloat: [],
      phases: [],
    };
    const html = renderReport(r);
    expect(unbalancedTags(html)).toEqual([]);
    expect(html).toContain('Not recorded');
    expect(html).toContain('<code>--report-samples 0</code>'); // says how to get the samples next time
  });

  it('has an activation SQNR column only for a variant whose layers read quantized inputs', () => {
    const r = syntheticReport();
    for (const l of r.layers) if (l.variant === 'w4a8') delete l.activationSqnrDb; // as ptq4dm: float inputs
    const layers = /<section id="layers">[\s\S]*?<\/section>/.exec(renderReport(r))![0];
    const part = (v: string) => layers.split('<h3>').find((h) => h.startsWith(`${v}</h3>`))!;
    const [int8, w4a8] = [part('int8'), part('w4a8')];
    expect(int8).toContain('activation SQNR (dB)</th>');
    expect(w4a8).not.toContain('activation SQNR (dB)</th>');
  });

  it('shows infinite SQNR as ∞ and leaves it out of the chart', () => {
    const r = syntheticReport();
    r.layers[0].weightSqnrDb = Number.POSITIVE_INFINITY;
    const html = renderReport(r);
    expect(html).toContain('>∞<');
    const text = withoutImages(html);
    expect(text.match(/.{0,40}(NaN|Infinity).{0,40}/)?.[0]).toBeUndefined();
  });

  it('refuses mismatched series and bytes that are not a PNG', () => {
    const r = syntheticReport();
    r.activationRanges[2].max.pop();
    expect(() => renderReport(r)).toThrow(/activation range .* steps but .* max/);
    const s = syntheticReport();
    s.samples[0].gridPng = new Uint8Array(100);
    expect(() => renderReport(s)).toThrow(/not a PNG/);
  });
});

describe('time-varying sites', () => {
  const site = (name: string, widths: number[]) => ({
    site: name,
    steps: widths.map((_, i) => i),
    min: widths.map((w) => -w / 2),
    max: widths.map((w) => w / 2),
  });

  it('ranks sites by widest over narrowest range width', () => {
    const flat = site('flat', [2, 2, 2, 2]);
    const grows = site('grows', [1, 2, 4, 8]);
    const mild = site('mild', [3, 4, 3, 4]);
    expect(siteVariation(grows).widthRatio).toBe(8);
    expect(siteVariation(flat).widthRatio).toBe(1);
    expect(mostTimeVarying([flat, grows, mild], 2).map((s) => s.range.site)).toEqual(['grows', 'mild']);
  });

  it('plots the most time-varying sites only', () => {
    const r = syntheticReport({ sites: 4 });
    r.activationRanges = [site('flat-site', [1, 1, 1]), site('moving-site', [1, 5, 9]), site('also-flat', [2, 2, 2])];
    const html = renderReport(r, { rangeSites: 1 });
    expect(html).toContain('Activation range of moving-site');
    expect(html).not.toContain('Activation range of flat-site');
    expect(html).toContain('×9.0 across steps');
  });
});
