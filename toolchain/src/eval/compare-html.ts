/** compare.html: two /sample endpoints side by side: latency, agreement, FID, errors and the images. */
import { cards, keyValues, section, table } from '../report/blocks.ts';
import { type Html, html } from '../report/html.ts';
import type { EndpointReport, PairAgreement } from './compare.ts';
import { gridFigure, page } from './page.ts';
import type { ImageSet } from './set-features.ts';

export interface ComparePage {
  settings: [string, string][];
  endpoints: { label: string; report: EndpointReport; images?: ImageSet & { seeds: number[] } }[];
  pair: PairAgreement;
  /** Metric name -> value or null, with reasons for nulls. */
  quality: [string, number | null][];
  reasons: Record<string, string>;
}

const ms = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${x.toFixed(1)} ms`);
const num = (x: number | null | undefined, digits: number) => (x === null || x === undefined ? '—' : x.toFixed(digits));

function latencyTable(p: ComparePage): Html {
  const columns = [
    { label: 'endpoint' },
    { label: 'ok', num: true },
    { label: 'failed or skipped', num: true },
    { label: 'cold', num: true },
    { label: 'cold load (server)', num: true },
    { label: 'warm p50', num: true },
    { label: 'p95', num: true },
    { label: 'p99', num: true },
    { label: 'server total p50', num: true },
  ];
  const rows = p.endpoints.map(({ label, report: r }) => [
    html`<b>${label}</b> <code>${r.url}</code>`,
    r.n_ok,
    r.n_failed + r.n_skipped,
    ms(r.cold?.ms),
    ms(r.cold?.server_load_ms),
    ms(r.warm?.p50),
    ms(r.warm?.p95),
    ms(r.warm?.p99),
    ms(r.warm_server_total?.p50),
  ]);
  return table(columns, rows);
}

function errorList(p: ComparePage): Html {
  const items = p.endpoints.flatMap(({ label, report }) => [
    ...report.errors.map(
      (e) => html`<li><b>${label}</b> seed ${e.seed}, ${e.attempts} attempt(s): ${e.errors.join(' · ')}</li>`,
    ),
    ...(report.n_skipped > 0
      ? [html`<li><b>${label}</b>: ${report.n_skipped} seeds not requested (the first request failed)</li>`]
      : []),
  ]);
  return items.length > 0 ? html`<ul>${items}</ul>` : html`<p class="note">No failed or retried requests.</p>`;
}

/** compare.json's metric keys (is_a, fid_a_b, fid_b_ref) as words for the page. */
export function metricLabel(key: string): string {
  const is = /^is_(\w+)$/.exec(key);
  if (is) return `Inception Score of ${is[1]}`;
  const fid = /^fid_(\w+)_(\w+)$/.exec(key);
  if (fid) return `FID ${fid[1]} vs ${fid[2] === 'ref' ? 'the reference' : fid[2]}`;
  return key;
}

export function compareHtml(p: ComparePage): string {
  const pair = p.pair;
  const agreement = cards([
    { value: `${num(pair.psnr, 2)}${pair.identical ? ' (identical)' : ''}`, label: `PSNR dB over ${pair.n} seeds` },
    { value: num(pair.psnr_min, 2), label: 'worst image PSNR dB' },
    { value: num(pair.ssim, 4), label: 'mean SSIM' },
    { value: num(pair.ssim_min, 4), label: 'worst image SSIM' },
    { value: num(pair.max_abs, 0), label: 'max |diff| (uint8 levels)' },
  ]);
  const quality = table(
    [{ label: 'metric' }, { label: 'value', num: true }, { label: 'note' }],
    p.quality.map(([name, value]) => [metricLabel(name), num(value, 3), p.reasons[name] ?? '']),
  );
  const figures = p.endpoints.map(({ label, report, images }) =>
    images
      ? gridFigure(
          images,
          html`<b>${label}</b> · ${report.info?.variant ?? ''} · ${images.n} seeds`,
          `${label} samples`,
        )
      : html`<figure><figcaption><b>${label}</b>: no images</figcaption></figure>`,
  );
  const body = html`${keyValues(p.settings)}
${section('latency', 'Latency', html`<p class="note">Client-side wall time per request (n=1). The cold request is the first one, sent alone; the warm percentiles include any queueing at the chosen concurrency.</p>${latencyTable(p)}`)}
${section('agreement', 'Same-seed agreement', html`${agreement}${pair.reason ? html`<p class="note">${pair.reason}</p>` : ''}`)}
${section('quality', 'FID and IS', quality)}
${section('errors', 'Errors', errorList(p))}
${section('samples', 'Samples', html`<div class="samples">${figures}</div>`)}`;
  return page('compare: two /sample endpoints', body);
}
