/**
 * Child-process probe for devices.ts: `node probe-device.ts <ep>` creates a session of a one-node model on that
 * execution provider, runs it once and prints `{"ok": true}` or `{"ok": false, "error": "..."}` as its last line.
 * It runs apart from the command so native log lines and aborts of a missing driver stay out of the user's way.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/builder.ts';
import { encodeModel } from '../onnx/model.ts';

function probeModel(): Uint8Array {
  const g = new GraphBuilder('device-probe');
  const x = g.input('x', 'float32', [1, 4]);
  const y = g.op('double', 'Add', [x, x], {}, 'y');
  g.output(y, 'float32', [1, 4]);
  return encodeModel(g.model({ opsetImports: [{ domain: '', version: 17 }] }));
}

async function probe(ep: string): Promise<void> {
  const session = await ort.InferenceSession.create(probeModel(), { executionProviders: [ep], logSeverityLevel: 3 });
  const x = new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [1, 4]);
  const { y } = await session.run({ x });
  if ((y.data as Float32Array)[3] !== 8)
    throw new Error(`the ${ep} provider computed 4+4 = ${(y.data as Float32Array)[3]}`);
  await session.release();
}

const ep = process.argv[2] ?? 'cpu';
try {
  await probe(ep);
  process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
} catch (error) {
  process.stdout.write(`${JSON.stringify({ ok: false, error: (error as Error).message })}\n`);
}
