import type { FileProgress } from '../store/index.ts';
import { Progress } from './progress.ts';

/** One progress bar per file of a push/pull, in bytes. */
export function transferProgress(enabled: boolean): (p: FileProgress) => void {
  const bars = new Map<string, Progress>();
  return (p) => {
    const key = `${p.phase} ${p.file}`;
    let bar = bars.get(key);
    if (!bar) {
      bar = new Progress(key, p.bytesTotal, { enabled, unit: 'B' });
      bars.set(key, bar);
    }
    bar.update(p.bytesDone);
  };
}
