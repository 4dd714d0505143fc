/**
 * A publisher to kill: `node publish-child.ts <location> <name> <artifactDir> [partSize] [stallAfterBytes]`.
 * Prints one JSON progress line per event on stdout and `{"done":...}` at the end. With stallAfterBytes, it
 * freezes (blocking its event loop) once a file has that many bytes in flight, so a test can SIGKILL it at a
 * known point mid-copy. S3 settings come from the AWS_* environment, as for the CLI.
 */
import { writeSync } from 'node:fs';
import { openStore } from '../src/store/index.ts';

const [location, name, dir, partSize, stallAfter] = process.argv.slice(2);
const stallAt = stallAfter ? Number(stallAfter) : Number.POSITIVE_INFINITY;
const size = partSize ? Number(partSize) : undefined;
const store = openStore(location, { upload: size ? { partSize: size, multipartThreshold: size, concurrency: 2 } : {} });

const result = await store.publish(name, dir, {
  onProgress(progress) {
    writeSync(1, `${JSON.stringify(progress)}\n`);
    if (progress.phase !== 'verify' && progress.bytesDone >= stallAt) {
      writeSync(1, `${JSON.stringify({ stalled: progress })}\n`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
    }
  },
});
writeSync(1, `${JSON.stringify({ done: result })}\n`);
