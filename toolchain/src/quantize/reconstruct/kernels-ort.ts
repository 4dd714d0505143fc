/**
 * Matrix kernels backed by onnxruntime-node: a one-node Gemm graph per (transA, transB), run by MLAS
 * (~150 GFLOP/s float32, ~75 float64 on 2 AVX-512 cores, against ~1-2 for the JS kernels).
 */
import * as ort from 'onnxruntime-node';
import { attr, GraphBuilder } from '../../onnx/builder.ts';
import { encodeModel } from '../../onnx/model.ts';
import { type GemmElement, gemmModelBytes } from './gemm-graph.ts';
import {
  type CodeMatrix,
  type GemmOptions,
  gemmShape,
  type IntegerProduct,
  type Matrix32,
  type MatrixKernels,
  type Product,
} from './kernels.ts';
import type { Matrix } from './matrix.ts';

export interface OrtKernelOptions {
  /** Element type inside onnxruntime. float32 is faster (bench/quant-math.ts); results come back as float64. */
  precision?: GemmElement;
  intraOpNumThreads?: number;
}

export function ortKernels(opts: OrtKernelOptions = {}): MatrixKernels {
  const precision = opts.precision ?? 'float64';
  const sessions = new Map<string, Promise<ort.InferenceSession>>();
  const session = (transA: boolean, transB: boolean): Promise<ort.InferenceSession> => {
    const key = `${transA}:${transB}`;
    let s = sessions.get(key);
    if (!s) {
      s = ort.InferenceSession.create(gemmModelBytes(precision, transA, transB), {
        intraOpNumThreads: opts.intraOpNumThreads ?? 0,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'disabled',
      });
      sessions.set(key, s);
    }
    return s;
  };
  const toOrt = (x: Matrix | Matrix32): ort.Tensor => {
    const same = precision === 'float32' ? x.data instanceof Float32Array : x.data instanceof Float64Array;
    const data = same ? x.data : precision === 'float32' ? new Float32Array(x.data) : new Float64Array(x.data);
    return new ort.Tensor(precision, data, [x.rows, x.cols]);
  };
  const run = async (a: Matrix | Matrix32, b: Matrix | Matrix32, g: GemmOptions): Promise<Product> => {
    const { m, n } = gemmShape(a, b, g);
    const s = await session(Boolean(g.transA), Boolean(g.transB));
    const { Y } = await s.run({ A: toOrt(a), B: toOrt(b) });
    return { rows: m, cols: n, data: Y.data as Float32Array | Float64Array };
  };

  let integer: Promise<ort.InferenceSession> | undefined;
  const integerGram = async (a: CodeMatrix<Uint8Array>, b: CodeMatrix<Int8Array>): Promise<IntegerProduct> => {
    if (a.rows !== b.rows) throw new Error(`integer gram: ${a.rows} rows against ${b.rows}`);
    if (a.rows === 0 || a.cols === 0 || b.cols === 0)
      return { rows: a.cols, cols: b.cols, data: new Int32Array(a.cols * b.cols) };
    integer ??= ort.InferenceSession.create(integerGramModel(), {
      intraOpNumThreads: opts.intraOpNumThreads ?? 0,
      interOpNumThreads: 1,
    });
    const { Y } = await (await integer).run({
      A: new ort.Tensor('uint8', a.data, [a.rows, a.cols]),
      B: new ort.Tensor('int8', b.data, [b.rows, b.cols]),
      za: new ort.Tensor('uint8', Uint8Array.of(a.zeroPoint), []),
      zb: new ort.Tensor('int8', Int8Array.of(b.zeroPoint), []),
    });
    return { rows: a.cols, cols: b.cols, data: Y.data as Int32Array };
  };

  return {
    name: `ort-${precision}`,
    integerGramTransA: integerGram,
    async gemm(a: Matrix, b: Matrix, g: GemmOptions = {}): Promise<Matrix> {
      const { m, k, n } = gemmShape(a, b, g);
      if (m === 0 || n === 0 || k === 0) return { rows: m, cols: n, data: new Float64Array(m * n) };
      const y = await run(a, b, g);
      return { rows: m, cols: n, data: y.data instanceof Float64Array ? y.data : new Float64Array(y.data) };
    },
    async gemm32(a: Matrix32, b: Matrix32, g: GemmOptions = {}): Promise<Product> {
      const { m, k, n } = gemmShape(a, b, g);
      if (m === 0 || n === 0 || k === 0) return { rows: m, cols: n, data: new Float64Array(m * n) };
      return run(a, b, g);
    },
    async dispose(): Promise<void> {
      for (const s of sessions.values()) await (await s).release();
      sessions.clear();
      await (await integer)?.release();
      integer = undefined;
    },
  };
}

/** Y = (A^T - za) (B - zb): Transpose + MatMulInteger (A uint8 [K, M], B int8 [K, N], int32 out). */
function integerGramModel(): Uint8Array {
  const g = new GraphBuilder('integer-gram');
  const a = g.input('A', 'uint8', ['K', 'M']);
  const b = g.input('B', 'int8', ['K', 'N']);
  const za = g.input('za', 'uint8', []);
  const zb = g.input('zb', 'int8', []);
  const at = g.op('transpose', 'Transpose', [a], { perm: attr.ints([1, 0]) }, 'AT');
  const y = g.op('product', 'MatMulInteger', [at, b, za, zb], {}, 'Y');
  g.output(y, 'int32', ['M', 'N']);
  return encodeModel(g.model({ opsetImports: [{ domain: '', version: 13 }] }));
}
