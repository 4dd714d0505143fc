/** Layout blocks the report's sections are made of: section, table, key/value list, summary cards. */
import { type Html, type HtmlValue, html } from './html.ts';

export function section(id: string, title: string, body: HtmlValue): Html {
  return html`<section id="${id}"><h2>${title}</h2>${body}</section>`;
}

export interface Column {
  label: string;
  /** Right-aligned tabular numbers. */
  num?: boolean;
}

export type Cell = HtmlValue;

/** A table in a horizontal scroller, so wide tables never widen the page on a phone. */
export function table(columns: readonly Column[], rows: readonly Cell[][], options: { totalRow?: Cell[] } = {}): Html {
  const cls = (c: Column | undefined): string => (c?.num ? 'num' : '');
  const head = columns.map((c) => html`<th class="${cls(c)}" scope="col">${c.label}</th>`);
  const row = (cells: readonly Cell[], trClass = ''): Html =>
    html`<tr class="${trClass}">${cells.map((cell, i) => html`<td class="${cls(columns[i])}">${cell}</td>`)}</tr>`;
  const total = options.totalRow ? row(options.totalRow, 'total') : '';
  return html`<div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>${rows.map((r) => row(r))}${total}</tbody></table></div>`;
}

export function keyValues(entries: readonly [string, HtmlValue][]): Html {
  return html`<dl class="kv">${entries.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>`;
}

export function cards(items: readonly { value: HtmlValue; label: string }[]): Html {
  return html`<div class="cards">${items.map((c) => html`<div class="card"><b>${c.value}</b><span>${c.label}</span></div>`)}</div>`;
}

/** A flag or metric value as text: strings as they are, anything else as JSON. */
export function plainValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
  return JSON.stringify(value) ?? String(value);
}
