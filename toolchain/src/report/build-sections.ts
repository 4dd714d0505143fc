/** Sections about the build itself: summary, variants, calibration settings, timings, model flags, metrics. */
import { cards, keyValues, plainValue, section, table } from './blocks.ts';
import { stepHistogramChart } from './charts.ts';
import { formatBytes, formatCount, formatNumber, formatSeconds } from './format.ts';
import { type Html, html, raw } from './html.ts';
import { fp32Bytes, meanPsnr } from './stats.ts';
import type { BuildReport, VariantSummary } from './types.ts';

export function header(report: BuildReport, toc: readonly [string, string][]): Html {
  const a = report.artifact;
  return html`<header><div class="muted">qdm build report</div><h1>${a.name}</h1>
<div class="muted">built ${a.createdAt}${a.toolchainVersion ? ` · toolchain ${a.toolchainVersion}` : ''}</div>
<nav class="toc">${toc.map(([id, title]) => html`<a href="#${id}">${title}</a>`)}</nav></header>`;
}

export function summaryCards(report: BuildReport): Html {
  const base = fp32Bytes(report);
  const items: { value: string; label: string }[] = [
    { value: formatCount(report.artifact.parameters), label: 'parameters' },
    { value: `${report.artifact.imageSize}×${report.artifact.imageSize}`, label: 'image size' },
  ];
  for (const v of report.variants) {
    const ratio = base && v.bytes > 0 && v.bytes !== base ? ` (÷${formatNumber(base / v.bytes, 1)})` : '';
    items.push({ value: formatBytes(v.bytes), label: `${v.name} file${ratio}` });
  }
  for (const v of report.variants) {
    const psnr = meanPsnr(report, v.name);
    if (psnr !== undefined)
      items.push({ value: `${formatNumber(psnr)} dB`, label: `${v.name} same-seed PSNR vs fp32` });
  }
  const total = report.phases.reduce((s, p) => s + p.seconds, 0);
  if (report.phases.length > 0) items.push({ value: formatSeconds(total), label: 'build time' });
  const peak = Math.max(...report.phases.map((p) => p.peakRssMb ?? Number.NEGATIVE_INFINITY));
  if (Number.isFinite(peak)) items.push({ value: `${formatNumber(peak, 0)} MB`, label: 'peak memory (RSS)' });
  return cards(items);
}

function integerNodes(nodes: VariantSummary['integerNodes']): string {
  if (!nodes) return '—';
  const entries = Object.entries(nodes).filter(([, n]) => n > 0);
  if (entries.length === 0) return 'none';
  return entries.map(([op, n]) => `${op} ${n}`).join(' · ');
}

export function variantsSection(report: BuildReport): Html {
  const base = fp32Bytes(report);
  const rows = report.variants.map((v) => [
    html`<b>${v.name}</b>`,
    html`<code>${v.file}</code>`,
    html`<span title="${v.bytes} bytes">${formatBytes(v.bytes)}</span>`,
    base && v.bytes > 0 ? `÷${formatNumber(base / v.bytes, 2)}` : '—',
    v.precision,
    v.scheme ?? '—',
    v.recon ?? '—',
    integerNodes(v.integerNodes),
    formatNumber(meanPsnr(report, v.name)),
  ]);
  const columns = [
    { label: 'variant' },
    { label: 'file' },
    { label: 'size', num: true },
    { label: 'vs fp32', num: true },
    { label: 'precision' },
    { label: 'scheme' },
    { label: 'weight rounding' },
    { label: 'fused integer nodes' },
    { label: 'mean PSNR vs fp32 (dB)', num: true },
  ];
  return section(
    'variants',
    'Variants',
    html`${table(columns, rows)}<p class="note">Fused integer nodes: the integer kernels onnxruntime turned the QDQ graph into at graph optimization level “all”; a quantized layer missing here still runs as float between Quantize/Dequantize pairs.</p>`,
  );
}

export function calibrationSection(report: BuildReport): Html {
  const c = report.calibration;
  if (!c) return section('calibration', 'Calibration', html`<p class="note">Not recorded for this build.</p>`);
  const chosen = c.stepHistogram.filter((n) => n > 0).length;
  const settings = Object.entries(c.settings ?? {}).map(([k, v]): [string, string] => [k, plainValue(v)]);
  const facts = keyValues([
    ['time-step policy', c.policy],
    ['samples', String(c.samples)],
    ['trajectories', String(c.trajectories)],
    ['trajectory sampler', c.steps],
    ['start noise', c.noise],
    ['observer', c.observer],
    ...settings,
  ]);
  const chart = c.stepHistogram.length > 0 ? stepHistogramChart(c.stepHistogram) : '';
  return section(
    'calibration',
    'Calibration',
    html`${facts}<h3>Time steps chosen</h3>${chart}<p class="note">${chosen} of ${c.stepHistogram.length} respaced steps hold at least one calibration sample (x<sub>t</sub>, t), recorded from the fp32 model's own trajectories.</p>`,
  );
}

export function phasesSection(report: BuildReport): Html {
  if (report.phases.length === 0) return section('timings', 'Timings', html`<p class="note">Not recorded.</p>`);
  const total = report.phases.reduce((s, p) => s + p.seconds, 0);
  const longest = Math.max(...report.phases.map((p) => p.seconds), 1e-9);
  const rows = report.phases.map((p) => [
    p.name,
    formatSeconds(p.seconds),
    raw(`<span class="meter" style="width:${((100 * p.seconds) / longest).toFixed(1)}px"></span>`),
    total > 0 ? `${formatNumber((100 * p.seconds) / total, 1)} %` : '—',
    p.peakRssMb === undefined ? '—' : `${formatNumber(p.peakRssMb, 0)} MB`,
  ]);
  const peak = Math.max(...report.phases.map((p) => p.peakRssMb ?? Number.NEGATIVE_INFINITY));
  const columns = [
    { label: 'phase' },
    { label: 'time', num: true },
    { label: '' },
    { label: 'share', num: true },
    { label: 'peak RSS', num: true },
  ];
  const totalRow = [
    'total',
    formatSeconds(total),
    '',
    '100 %',
    Number.isFinite(peak) ? `${formatNumber(peak, 0)} MB` : '—',
  ];
  return section('timings', 'Timings and memory', table(columns, rows, { totalRow }));
}

export function modelSection(report: BuildReport): Html {
  const a = report.artifact;
  const ckpt = a.checkpoint;
  const facts = keyValues([
    ['parameters', a.parameters.toLocaleString('en-US')],
    ['image size', `${a.imageSize} px`],
    ...(ckpt
      ? ([
          ['checkpoint', html`<code>${ckpt.file}</code> (${formatBytes(ckpt.bytes)})`],
          ['sha256', html`<code>${ckpt.sha256}</code>`],
        ] as [string, Html][])
      : []),
  ]);
  const flags = Object.entries(a.flags).map(([k, v]): [string, Html] => [k, html`<code>${plainValue(v)}</code>`]);
  const flagList =
    flags.length > 0
      ? html`<details><summary>Model flags (${flags.length})</summary>${keyValues(flags)}</details>`
      : '';
  return section('model', 'Model', html`${facts}${flagList}`);
}

export function metricsSection(report: BuildReport): Html | '' {
  // Only the variants that have metrics get a column (fp32 is the reference the others are measured against).
  const measured = report.variants.filter((v) => Object.keys(v.metrics ?? {}).length > 0);
  const keys = [...new Set(measured.flatMap((v) => Object.keys(v.metrics ?? {})))];
  const top = Object.entries(report.metrics ?? {});
  if (keys.length === 0 && top.length === 0) return '';
  const columns = [{ label: 'metric' }, ...measured.map((v) => ({ label: v.name, num: true }))];
  const rows = keys.map((k) => [
    k,
    ...measured.map((v) => (v.metrics && k in v.metrics ? plainValue(v.metrics[k]) : '—')),
  ]);
  const perVariant = keys.length > 0 ? table(columns, rows) : '';
  const build = top.length > 0 ? keyValues(top.map(([k, v]): [string, string] => [k, plainValue(v)])) : '';
  return section('metrics', 'Metrics', html`${perVariant}${build}`);
}
