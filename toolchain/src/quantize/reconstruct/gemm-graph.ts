/** A one-node ONNX graph `Y = op(A) @ op(B)` (Gemm with transA/transB, symbolic dims) for the ORT kernels. */
import { attr, GraphBuilder } from '../../onnx/builder.ts';
import { encodeModel } from '../../onnx/model.ts';

export type GemmElement = 'float32' | 'float64';

export function gemmModelBytes(elem: GemmElement, transA: boolean, transB: boolean): Uint8Array {
  const g = new GraphBuilder('gemm');
  const a = g.input('A', elem, transA ? ['K', 'M'] : ['M', 'K']);
  const b = g.input('B', elem, transB ? ['N', 'K'] : ['K', 'N']);
  const y = g.op('gemm', 'Gemm', [a, b], { transA: attr.int(transA ? 1 : 0), transB: attr.int(transB ? 1 : 0) }, 'Y');
  g.output(y, elem, ['M', 'N']);
  return encodeModel(g.model({ opsetImports: [{ domain: '', version: 13 }] }));
}
