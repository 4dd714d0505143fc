/**
 * Progress on stderr: a redrawn line on a terminal, a line every few seconds otherwise (logs stay readable).
 * Results go to stdout, so `--json` output is never mixed with progress.
 */
export interface ProgressOptions {
  enabled?: boolean;
  stream?: NodeJS.WriteStream;
  unit?: string;
  /** Milliseconds since some fixed point (tests pass a fake clock); default Date.now. */
  now?: () => number;
}

/**
 * No time estimate before the phase has a measured rate: this many items and seconds after its first report.
 * The first report marks the start of the measurement: whatever came before it (a session created, a model
 * loaded, the first item's warm-up) is not an item's cost.
 */
const MIN_MEASURED_ITEMS = 3;
const MIN_MEASURED_SECONDS = 1;

export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly enabled: boolean;
  private readonly tty: boolean;
  private readonly unit: string;
  private readonly now: () => number;
  private started: number;
  /** Where the rate measurement starts: the phase's first report. */
  private base: { at: number; done: number } | undefined;
  private lastDone = 0;
  private lastAt: number;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private lastLen = 0;
  private readonly label: string;
  private total: number;

  constructor(label: string, total: number, opts: ProgressOptions = {}) {
    this.label = label;
    this.total = total;
    this.stream = opts.stream ?? process.stderr;
    this.enabled = opts.enabled ?? true;
    this.tty = Boolean(this.stream.isTTY);
    this.unit = opts.unit ?? '';
    this.now = opts.now ?? Date.now;
    this.started = this.now();
    this.lastAt = this.started;
  }

  /**
   * `total`: a phase's own total, when one bar reports several phases in turn (observe, weights, evaluate, ...):
   * a new total, a count going back or a report after the last phase finished starts a new phase, with its own
   * clock and rate.
   */
  update(done: number, detail = '', total = this.total): void {
    if (!this.enabled) return;
    const now = this.now();
    if (total !== this.total || done < this.lastDone || (this.lastDone >= this.total && this.base)) {
      this.total = total;
      this.started = this.base ? this.lastAt : this.started; // the previous phase ended at its last report
      this.base = undefined;
      this.lastDraw = Number.NEGATIVE_INFINITY;
    }
    this.base ??= { at: now, done };
    this.lastDone = done;
    this.lastAt = now;
    const finished = done >= this.total;
    if (!finished && now - this.lastDraw < (this.tty ? 100 : 5000)) return;
    this.lastDraw = now;
    const line = this.render(done, detail, now);
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

  /** Seconds left at the measured rate (elapsed per item over the items done since the first report), if any. */
  secondsLeft(done: number, now = this.now()): number | undefined {
    if (!this.base || done >= this.total) return undefined;
    const items = done - this.base.done;
    const seconds = (now - this.base.at) / 1000;
    if (items < MIN_MEASURED_ITEMS || seconds < MIN_MEASURED_SECONDS) return undefined;
    return (seconds / items) * (this.total - done);
  }

  private render(done: number, detail: string, now: number): string {
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
    const elapsed = (now - this.started) / 1000;
    // "left", not "eta": sampling progress would read as DDIM's eta.
    const seconds = this.secondsLeft(done, now);
    const left = seconds !== undefined ? `, ${formatSeconds(seconds)} left` : '';
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
      bar.update(done, detail, total);
    };
  };
}
