/** What every cell of the defaults matrix checks in what a build wrote: the manifest's files and the HTML report. */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { edgeGraphsOf, MANIFEST_FILE, type Manifest, manifestFiles, parseManifest } from '@qdm/shared';

export async function readManifest(dir: string): Promise<Manifest> {
  return parseManifest(JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')));
}

/** Every file the manifest records a hash for, with the hash and byte count it records. */
export function hashedFiles(manifest: Manifest): { file: string; sha256: string; bytes: number }[] {
  return [
    ...Object.values(manifest.variants).flatMap((v) => [
      { file: v.file, sha256: v.sha256, bytes: v.bytes },
      ...edgeGraphsOf(v).map((g) => ({ file: g.file, sha256: g.sha256, bytes: g.bytes })),
    ]),
    ...Object.entries(manifest.reports ?? {}).map(([file, r]) => ({ file, sha256: r.sha256, bytes: r.bytes })),
  ];
}

/** How `manifestProblems` ends the line of a file the manifest names without a hash. */
export const UNHASHED = 'named by the manifest without a sha256';

/**
 * Problems with an artifact folder, one line each (none: it is whole): a file on disk the manifest does not name,
 * a named file missing, a recorded sha256 or size the bytes do not match, a named file with no recorded hash.
 */
export async function manifestProblems(dir: string): Promise<string[]> {
  const manifest = await readManifest(dir);
  const problems: string[] = [];
  const named = new Set(manifestFiles(manifest));
  const onDisk = (await readdir(dir)).filter((f) => f !== MANIFEST_FILE);
  for (const file of onDisk) if (!named.has(file)) problems.push(`${file}: on disk, not in the manifest`);
  const hashed = new Map(hashedFiles(manifest).map((f) => [f.file, f]));
  for (const file of named) {
    const bytes = await readFile(join(dir, file)).catch(() => undefined);
    if (!bytes) {
      problems.push(`${file}: named by the manifest, missing`);
      continue;
    }
    const record = hashed.get(file);
    if (!record) {
      problems.push(`${file}: ${UNHASHED}`);
      continue;
    }
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== record.sha256) problems.push(`${file}: sha256 ${sha}, the manifest says ${record.sha256}`);
    if (bytes.length !== record.bytes)
      problems.push(`${file}: ${bytes.length} bytes, the manifest says ${record.bytes}`);
  }
  return problems;
}

const text = (markup: string) =>
  markup
    .replace(/<[^>]*>/g, '')
    .replace(/&[a-z#0-9]+;/g, 'x')
    .trim();

/** Splits `<tag ...>...</tag>` blocks of a flat (non-nested for this tag) HTML string. */
function blocks(markup: string, tag: string): string[] {
  return [...markup.matchAll(new RegExp(`<${tag}[\\s>][\\s\\S]*?</${tag}>`, 'g'))].map((m) => m[0]);
}

/** The report's sections, by id, as the build report writes them (`<section id="..."><h2>`). */
export function reportSections(report: string): Map<string, string> {
  return new Map(blocks(report, 'section').map((s) => [/^<section id="([^"]+)"/.exec(s)?.[1] ?? '?', s]));
}

/**
 * Problems with a build report, one line each: a section that says it recorded nothing or shows no table, chart,
 * image or list; a table without rows; a table column whose every cell is empty or a dash.
 */
export function reportProblems(report: string, expectedSections: readonly string[]): string[] {
  const problems: string[] = [];
  const sections = reportSections(report);
  for (const id of expectedSections) if (!sections.has(id)) problems.push(`section ${id}: missing`);
  for (const [id, body] of sections) {
    if (/not recorded/i.test(body))
      problems.push(
        `section ${id}: says "${text(/<p class="note">Not recorded[^<]*/i.exec(body)?.[0] ?? 'not recorded')}"`,
      );
    if (!/<table|<svg|<img|<dl|Nothing was left in float/.test(body)) problems.push(`section ${id}: no data`);
    for (const [i, table] of blocks(body, 'table').entries()) {
      const labels = blocks(table, 'th').map(text);
      const rows = blocks(table.replace(/<thead>[\s\S]*?<\/thead>/, ''), 'tr').map((r) => blocks(r, 'td'));
      if (rows.length === 0) problems.push(`section ${id}, table ${i + 1}: no rows`);
      labels.forEach((label, c) => {
        // A cell has data if it has text other than a dash, or markup of its own (the timing bars).
        const filled = rows.some(
          (r) => r[c] !== undefined && (/<td[^>]*>[\s\S]*<[a-z]/.test(r[c]) || !/^(—|-|)$/.test(text(r[c]))),
        );
        if (!filled)
          problems.push(`section ${id}, table ${i + 1}: column "${label}" is empty in all ${rows.length} rows`);
      });
    }
  }
  return problems;
}

/** PSNR of two float images in [-1, 1] (peak-to-peak 2); Infinity when identical. */
export function psnrDb(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`psnr: ${a.length} vs ${b.length} values`);
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  return se === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10(4 / (se / a.length));
}
