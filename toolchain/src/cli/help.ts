/**
 * `toolchain <command> --help`: plain text wrapped to the terminal (at most 100 columns), every option with its value
 * hint and default. citty's own renderer pads every line to the longest description (250+ columns for eval) and
 * prints colour codes even into a file or pipe.
 */
import type { ArgDef, ArgsDef } from 'citty';

const MAX_WIDTH = 100;
const FLAG_COLUMN = 30;

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Greedy word wrap; a word longer than the width gets a line of its own. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w.length > 0)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

function flagLabel(name: string, def: ArgDef): string {
  if (def.type === 'boolean') return `--${kebab(name)}`;
  const hint = (def as { valueHint?: string }).valueHint ?? kebab(name).toUpperCase().replace(/-/g, '_');
  return `--${kebab(name)} ${hint}`;
}

function optionText(def: ArgDef): string {
  const description = def.description ?? '';
  const value = (def as { default?: unknown }).default;
  if (def.type === 'boolean' || value === undefined || value === '') return description;
  return `${description} (default: ${String(value)})`;
}

/** Label in a fixed column, description wrapped beside it (or below, when the label is too long). */
function entry(label: string, text: string, width: number): string[] {
  const indent = ' '.repeat(FLAG_COLUMN);
  const body = wrap(text, Math.max(width - FLAG_COLUMN, 30));
  const head = `  ${label}`;
  if (head.length + 2 <= FLAG_COLUMN) {
    return [`${head.padEnd(FLAG_COLUMN)}${body[0] ?? ''}`.trimEnd(), ...body.slice(1).map((l) => indent + l)];
  }
  return [head, ...body.map((l) => indent + l)];
}

export function renderHelp(
  command: string,
  meta: { description?: string },
  argsDef: ArgsDef,
  columns: number = MAX_WIDTH,
): string {
  const width = Math.min(Math.max(columns, 60), MAX_WIDTH);
  const entries = Object.entries(argsDef);
  const positionals = entries.filter(([, def]) => def.type === 'positional');
  const options = entries.filter(([, def]) => def.type !== 'positional');
  const usageArgs = positionals.map(([name, def]) =>
    def.required === false ? `[${name.toUpperCase()}]` : `<${name.toUpperCase()}>`,
  );
  const lines = [
    ...wrap(`toolchain ${command}: ${meta.description ?? ''}`, width),
    '',
    `Usage: toolchain ${command} ${[...usageArgs, '[options]'].join(' ')}`,
  ];
  if (positionals.length > 0) {
    lines.push('', 'Arguments:');
    for (const [name, def] of positionals) lines.push(...entry(name.toUpperCase(), optionText(def), width));
  }
  lines.push('', 'Options:');
  for (const [name, def] of options) lines.push(...entry(flagLabel(name, def), optionText(def), width));
  return lines.join('\n');
}
