/** The result of a command: one JSON object with --json, else a few human lines. Both go to stdout. */
export function emit(json: boolean, result: Record<string, unknown>, human: () => string): void {
  if (json) process.stdout.write(`${JSON.stringify({ ok: true, ...result })}\n`);
  else process.stdout.write(`${human()}\n`);
}

/** Flags every command declares. */
export const commonArgs = {
  json: { type: 'boolean', description: 'print one JSON object on stdout instead of text', default: false },
  quiet: { type: 'boolean', description: 'no progress on stderr', default: false },
} as const;
