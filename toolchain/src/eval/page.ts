/** Shared pieces of the eval HTML pages (table.html, compare.html): the document shell and sample-grid figures. */
import { Buffer } from 'node:buffer';
import { encodePng, imageGrid } from '@qdm/shared';
import { type Html, type HtmlValue, html, raw } from '../report/html.ts';
import { REPORT_CSS } from '../report/style.ts';
import type { ImageSet } from './set-features.ts';

/** A whole self-contained page: inline CSS, images as data URIs, nothing fetched. */
export function page(title: string, body: HtmlValue): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title><style>${raw(REPORT_CSS)}</style></head>
<body><main><h1>${title}</h1>${body}</main></body></html>
`.value;
}

/** A PNG grid of the set (8 columns at most) as a figure. */
export function gridFigure(set: ImageSet, caption: HtmlValue, alt: string): Html {
  const columns = Math.min(8, Math.max(1, Math.ceil(Math.sqrt(set.n))));
  const grid = imageGrid(set.images, set.n, set.h, set.w, set.c, columns);
  const png = encodePng(grid.data, grid.width, grid.height, set.c as 1 | 3);
  const src = `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
  // NOTE: shown at up to 2x with nearest-neighbour scaling (the report's .samples style): small digits stay crisp.
  return html`<figure><img src="${src}" width="${grid.width}" height="${grid.height}" style="max-width:${Math.max(2 * grid.width, 260)}px" alt="${alt}"><figcaption>${caption}</figcaption></figure>`;
}
