/**
 * The report of a build (`report.<variant>.html`): one self-contained file (inline CSS and SVG, PNGs as data:
 * URIs, no scripts, nothing fetched) that reads on a phone and a laptop. Every string from the build is escaped by the `html` template.
 */
import {
  calibrationSection,
  header,
  metricsSection,
  modelSection,
  phasesSection,
  summaryCards,
  variantsSection,
} from './build-sections.ts';
import { variantColors } from './charts.ts';
import { html, raw } from './html.ts';
import { keptFloatSection, layersSection, rangesSection, samplesSection, stepSqnrSection } from './quality-sections.ts';
import { REPORT_CSS } from './style.ts';
import type { BuildReport } from './types.ts';

export type * from './types.ts';

export interface RenderOptions {
  /** How many of the most time-varying activation sites to plot (default 6). */
  rangeSites?: number;
}

function checkLengths(what: string, expected: number, arrays: Record<string, readonly number[]>): void {
  for (const [name, values] of Object.entries(arrays)) {
    if (values.length !== expected) throw new Error(`report: ${what}: ${expected} steps but ${values.length} ${name}`);
  }
}

/** Catches mismatched series before they draw a wrong chart. */
export function validateReport(report: BuildReport): void {
  for (const r of report.activationRanges) {
    checkLengths(`activation range of ${r.site}`, r.steps.length, { min: r.min, max: r.max });
  }
  for (const s of report.stepSqnr) checkLengths(`step SQNR of ${s.variant}`, s.step.length, { sqnrDb: s.sqnrDb });
  for (const s of report.samples) {
    if (s.psnrDb && s.psnrDb.length !== s.seeds.length) {
      throw new Error(`report: samples of ${s.variant}: ${s.seeds.length} seeds but ${s.psnrDb.length} PSNR values`);
    }
  }
}

const TOC: [string, string][] = [
  ['variants', 'Variants'],
  ['samples', 'Samples'],
  ['steps', 'Trajectory'],
  ['ranges', 'Activation ranges'],
  ['calibration', 'Calibration'],
  ['layers', 'Layers'],
  ['float', 'Float'],
  ['timings', 'Timings'],
  ['model', 'Model'],
];

export function renderReport(report: BuildReport, options: RenderOptions = {}): string {
  validateReport(report);
  const color = variantColors(report.variants.map((v) => v.name));
  const metrics = metricsSection(report);
  const toc: [string, string][] = metrics ? [...TOC, ['metrics', 'Metrics']] : TOC;
  const body = html`${header(report, toc)}${summaryCards(report)}${variantsSection(report)}${samplesSection(report)}
${stepSqnrSection(report, color)}${rangesSection(report, options.rangeSites ?? 6)}${calibrationSection(report)}
${layersSection(report)}${keptFloatSection(report)}${phasesSection(report)}${modelSection(report)}${metrics}`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${report.artifact.name}: qdm build report</title><style>${raw(REPORT_CSS)}</style></head>
<body><main>${body}</main></body></html>
`.value;
}
