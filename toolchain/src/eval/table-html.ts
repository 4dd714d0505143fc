/** table.html: the quality table of an artifact's variants and their sample grids side by side. */
import { keyValues, section, table } from '../report/blocks.ts';
import { html } from '../report/html.ts';
import { gridFigure, page } from './page.ts';
import type { ImageSet } from './set-features.ts';
import { psnrCell, rowCells, TABLE_COLUMNS, type TableRow, tableNotes } from './table.ts';

export interface TablePage {
  artifact: string;
  settings: [string, string][];
  rows: TableRow[];
  /** Samples of each row's variant, same seeds in the same grid positions. */
  samples: Map<string, ImageSet>;
}

export function tableHtml(p: TablePage): string {
  const columns = TABLE_COLUMNS.map((label, i) => ({ label, num: i >= 3 }));
  const notes = tableNotes(p.rows);
  const figures = p.rows.map((row) => {
    const set = p.samples.get(row.variant);
    if (!set) return '';
    const psnr = row.vsFp32 ? html` · PSNR vs fp32 ${psnrCell(row)} dB · SSIM ${row.vsFp32.ssim.toFixed(4)}` : '';
    return gridFigure(
      set,
      html`<b>${row.variant}</b> · ${row.method} · ${row.calibration}${psnr}`,
      `${row.variant} samples`,
    );
  });
  const body = html`${keyValues(p.settings)}
${section('table', 'Quality', html`${table(columns, p.rows.map(rowCells))}${notes.length > 0 ? html`<ul class="note">${notes.map((n) => html`<li>${n}</li>`)}</ul>` : ''}`)}
${section('samples', 'Samples from the same seeds', html`<p class="note">Every variant starts from the same seeded noise, so images in the same grid position should match; PSNR and SSIM compare each with its fp32 twin (uint8 pixels).</p><div class="samples">${figures}</div>`)}`;
  return page(`${p.artifact}: quality of every variant`, body);
}
