import { type EdgeGraph, edgeHeapBytes, type VariantEntry } from '@qdm/shared';
import { type SessionFactory, sameRelease } from './session.ts';

/**
 * Which edge graph this deployment loads for a variant, and whether it serves the variant's wide steps.
 *
 * A variant built with wide steps (toolchain's wide-steps.ts: float activations on the first and last steps, an
 * If on t inside the graph) carries a second edge graph without them. A WASM runtime under a memory budget loads
 * that one when the wide graph's measured heap at n = 1 passes the budget and the 8-bit-only one fits: at
 * CIFAR-10 size the float-activation steps need more than a 128 MB Worker has (docs/results.md#edge-cifar10),
 * and serving the 8-bit steps everywhere beats refusing every request. `/models` says which.
 */
export interface EdgeGraphChoice {
  graph: EdgeGraph;
  /** Absent: the variant has no wide steps. */
  wideSteps?: { served: true } | { served: false; reason: string };
}

export function chooseEdgeGraph(
  entry: VariantEntry,
  factory: SessionFactory,
  memoryBudget: number,
): EdgeGraphChoice | undefined {
  const graph = entry.edgeGraph;
  if (!graph || factory.usesEdgeGraphs === false || !sameRelease(graph.runtime, factory.runtime)) return undefined;
  const eightBit = graph.eightBitOnly;
  if (!entry.quantization?.wideSteps || !eightBit) return { graph };
  const budgeted = factory.info?.runtime !== 'native' && Number.isFinite(memoryBudget);
  if (budgeted && graph.memory && eightBit.memory) {
    const wide = edgeHeapBytes(graph.memory, 1);
    if (wide > memoryBudget && edgeHeapBytes(eightBit.memory, 1) <= memoryBudget) {
      const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
      const reason =
        `the float-activation steps need ${mib(wide)} of runtime memory at n = 1, over this deployment's ` +
        `${mib(memoryBudget)} (QDM_MEMORY_BUDGET): every step runs on the 8-bit kernels`;
      return { graph: { ...eightBit }, wideSteps: { served: false, reason } };
    }
  }
  return { graph, wideSteps: { served: true } };
}
