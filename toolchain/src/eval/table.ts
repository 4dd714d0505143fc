/**
 * The quality table of an artifact: one row per variant (fp32 first, then the manifest's order) with its method
 * and calibration from the manifest's quantization settings, the quality metrics against the reference, and the
 * same-seed pixel agreement with fp32 (uint8 images: PSNR as the build's manifest reports it, worst image, SSIM;
 * the convention is @qdm/shared's pixel-metrics.ts). Markdown and JSON here; the HTML page is table-html.ts.
 */
import type { Manifest, VariantEntry } from '@qdm/shared';
import { finiteOrNull } from './pixel-metrics.ts';
import type { QualityMetrics } from './quality.ts';

export interface SameSeedAgreement {
  /** Mean of the images' PSNR (an identical image: PSNR_CAP_DB), as the manifest's samePsnrDb. */
  psnr: number;
  /** Worst (lowest) per-image PSNR. */
  psnrMin: number;
  /** PSNR of the MSE over every value. */
  psnrPooled: number;
  /** Images identical to their fp32 twin. */
  identical: number;
  mse: number;
  ssim: number;
  maxAbs: number;
}

export interface TableRow {
  variant: string;
  /** The manifest's precision of the variant file: fp32, w8a8, ... */
  format: string;
  method: string;
  calibration: string;
  sha256: string;
  metrics: QualityMetrics;
  /** Against the fp32 images of the same seeds; absent for fp32 itself (or when fp32 is not in the table). */
  vsFp32?: SameSeedAgreement;
  samplingSeconds: number;
  samplesFile?: string;
}

/** fp32 first, then the other variants in manifest order; `only` restricts (and orders) them. */
export function tableVariants(manifest: Manifest, only?: readonly string[]): string[] {
  const names = Object.keys(manifest.variants);
  if (only && only.length > 0) {
    const missing = only.filter((v) => !names.includes(v));
    if (missing.length > 0) {
      throw new Error(`no variant ${missing.join(', ')} in the manifest (it has: ${names.join(', ')})`);
    }
    return [...only].sort((a, b) => Number(b === 'fp32') - Number(a === 'fp32'));
  }
  return [...names].sort((a, b) => Number(b === 'fp32') - Number(a === 'fp32'));
}

/** "ptq4dm W8A8" from the quantization settings; fp32 (or anything unquantized) by its precision. */
export function methodLabel(entry: VariantEntry): string {
  const q = entry.quantization;
  if (!q) return entry.precision;
  const bits =
    Number.isInteger(q.weightBits) && Number.isInteger(q.activationBits) ? ` W${q.weightBits}A${q.activationBits}` : '';
  // The techniques on top of the scheme: reconstruction, mixed-precision share, PTQD noise correction, wide steps.
  const wide = q.wideSteps;
  const extras = [
    typeof q.recon === 'string' && q.recon !== 'none' ? q.recon : '',
    typeof q.w8Share === 'number' ? `${(q.w8Share * 100).toFixed(0)}% w8` : '',
    q.noiseCorrection === 'ptqd' || entry.noiseCorrection ? 'ptqd' : '',
    wide ? `wide ${wide.first}+${wide.last}/${wide.respacing}` : '',
  ].filter(Boolean);
  return `${q.scheme}${bits}${extras.length ? ` ${extras.join(' ')}` : ''}`;
}

/** A time-step policy, written as a string or as {kind | policy | timesteps: ...}. */
function policyName(value: unknown, depth = 0): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (depth > 2 || typeof value !== 'object' || value === null) return undefined;
  const o = value as Record<string, unknown>;
  for (const key of ['kind', 'policy', 'timesteps', 'timestepPolicy', 'sampler']) {
    const name = policyName(o[key], depth + 1);
    if (name) return name;
  }
  return undefined;
}

/**
 * The calibration time-step policy (uniform, normal, every-k): the variant's `quantization.calibration` (or
 * `timesteps`, `timestepPolicy`), else the manifest's `calibration` record; "—" for an unquantized variant.
 */
export function calibrationLabel(manifest: Manifest, entry: VariantEntry): string {
  const q = entry.quantization;
  if (!q) return '—';
  return (
    policyName(q.calibration) ??
    policyName(q.timesteps) ??
    policyName(q.timestepPolicy) ??
    policyName(manifest.calibration) ??
    '—'
  );
}

const dash = '—';

function fixed(x: number | null | undefined, digits: number): string {
  if (x === null || x === undefined || Number.isNaN(x)) return dash;
  if (x === Number.POSITIVE_INFINITY) return '∞';
  return x.toFixed(digits);
}

/** PSNR cell: "—" for the fp32 row itself; identical images are PSNR_CAP_DB like any other value. */
export function psnrCell(row: TableRow): string {
  return row.vsFp32 ? fixed(row.vsFp32.psnr, 2) : dash;
}

export const TABLE_COLUMNS = [
  'variant',
  'method',
  'calibration',
  'IS',
  'FID',
  'sFID',
  'precision',
  'recall',
  'PSNR vs fp32 (dB)',
] as const;

export function rowCells(row: TableRow): string[] {
  const m = row.metrics;
  return [
    row.variant,
    row.method,
    row.calibration,
    fixed(m.is, 3),
    fixed(m.fid, 2),
    fixed(m.sfid, 2),
    fixed(m.precision, 3),
    fixed(m.recall, 3),
    psnrCell(row),
  ];
}

const MARKDOWN_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/** Cell text that cannot break the table (|, newlines) or turn into HTML (<, >, &) in a Markdown renderer. */
export function markdownText(text: string): string {
  return text
    .replace(/[&<>]/g, (c) => MARKDOWN_ENTITIES[c])
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/[\r\n]+/g, ' ');
}

export function markdownTable(rows: readonly TableRow[]): string {
  const right = new Set([3, 4, 5, 6, 7, 8]);
  const lines = [
    `| ${TABLE_COLUMNS.join(' | ')} |`,
    `|${TABLE_COLUMNS.map((_, i) => (right.has(i) ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${rowCells(r).map(markdownText).join(' | ')} |`),
  ];
  return `${lines.join('\n')}\n`;
}

/** Why metrics are missing, once per distinct reason: Markdown footnote lines. */
export function tableNotes(rows: readonly TableRow[]): string[] {
  const notes = new Map<string, string[]>();
  for (const r of rows) {
    for (const [metric, reason] of Object.entries(r.metrics.reasons)) {
      const key = `${metric}: ${reason}`;
      notes.set(key, [...(notes.get(key) ?? []), r.variant]);
    }
  }
  return [...notes].map(([note, variants]) => `${note} (${variants.join(', ')})`);
}

export function rowJson(row: TableRow) {
  const m = row.metrics;
  const v = row.vsFp32;
  return {
    variant: row.variant,
    format: row.format,
    method: row.method,
    calibration: row.calibration,
    sha256: row.sha256,
    is: finiteOrNull(m.is),
    is_std: finiteOrNull(m.is_std),
    fid: finiteOrNull(m.fid),
    sfid: finiteOrNull(m.sfid),
    precision: finiteOrNull(m.precision),
    recall: finiteOrNull(m.recall),
    psnr_vs_fp32: v ? v.psnr : null,
    psnr_min_vs_fp32: v ? v.psnrMin : null,
    psnr_pooled_vs_fp32: v ? v.psnrPooled : null,
    identical_images_vs_fp32: v ? v.identical : null,
    mse_vs_fp32: v ? v.mse : null,
    ssim_vs_fp32: v ? v.ssim : null,
    max_abs_diff_vs_fp32: v ? v.maxAbs : null,
    identical_to_fp32: v ? v.mse === 0 : null,
    reasons: m.reasons,
    sampling_seconds: row.samplingSeconds,
    samples: row.samplesFile ?? null,
  };
}
