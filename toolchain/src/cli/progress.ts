/**
 * Progress on stderr: a redrawn line on a terminal, a line every few seconds otherwise (logs stay readable).
 * Results go to stdout, so `--json` output is never mixed with progress.
 */
export interface ProgressOptions {
  enabled?: boolean;
  stream?: NodeJS.WriteStream;
  unit?: string;
}

export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly enabled: boolean;
  private readonly tty: boolean;
  private readonly unit: string;
  private readonly started = Date.now();
  private lastDraw = 0;
  private lastLen = 0;
  private readonly label: string;
  private readonly total: number;

  constructor(label: string, total: number, opts: ProgressOptions = {}) {
    this.label = label;
    this.total = total;
    this.stream = opts.stream ?? process.stderr;
    this.enabled = opts.enabled ?? true;
    this.tty = Boolean(this.stream.isTTY);
    this.unit = opts.unit ?? '';
  }

  update(done: number, detail = ''): void {
    if (!this.enabled) return;
    const now = Date.now();
    const finished = done >= this.total;
    if (!finished && now - this.lastDraw < (this.tty ? 100 : 5000)) return;
    this.lastDraw = now;
    const line = this.render(done, detail);
    if (this.tty) {
      this.stream.write(`\r${line.padEnd(this.lastLen)}`);
      this.lastLen = line.length;
      if (finished) this.stream.write('\n');
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  done(detail = ''): void {
    this.update(this.total, detail);
  }

  private render(done: number, detail: string): string {
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
    const elapsed = (Date.now() - this.started) / 1000;
    // "left", not "eta": sampling progress would read as DDIM's eta.
    const left = frac > 0 && frac < 1 ? `, ${formatSeconds((elapsed / frac) * (1 - frac))} left` : '';
    const counts = `${formatCount(done)}/${formatCount(this.total)}${this.unit}`;
    return `${this.label} [${bar}] ${counts} ${formatSeconds(elapsed)}${left}${detail ? `  ${detail}` : ''}`;
  }
}

function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(0)}k`;
  return String(Math.round(n));
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
}

/** One-line status messages on stderr, silenced by --quiet or --json. */
export function logger(enabled: boolean): (message: string) => void {
  return (message) => {
    if (enabled) process.stderr.write(`${message}\n`);
  };
}

export type ProgressReporter = (done: number, total: number, detail?: string) => void;

/** A bar per labelled phase, created on its first report (the total is known only then). */
export function progressBars(enabled: boolean): (label: string) => ProgressReporter {
  return (label) => {
    let bar: Progress | undefined;
    return (done, total, detail) => {
      bar ??= new Progress(label, total, { enabled });
      bar.update(done, detail);
    };
  };
}
