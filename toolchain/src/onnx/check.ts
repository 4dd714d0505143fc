/**
 * A structural checker for OnnxModel: the properties every pass must preserve (nodes in topological order, every
 * input defined, unique names, opsets that cover the nodes and the tensor types). It does not check operator
 * semantics; onnxruntime does that when it loads the model.
 */
import { numel } from '@qdm/shared';
import type { OnnxModel } from './ir.ts';

export class OnnxCheckError extends Error {
  readonly issues: string[];

  constructor(issues: string[]) {
    const shown = issues.slice(0, 20).join('\n  ');
    const more = issues.length > 20 ? `\n  ... and ${issues.length - 20} more` : '';
    super(`invalid ONNX model (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n  ${shown}${more}`);
    this.name = 'OnnxCheckError';
    this.issues = issues;
  }
}

const DEFAULT_DOMAINS = new Set(['', 'ai.onnx']);

/** Returns every problem found (empty when the model is structurally sound). */
export function checkModel(model: OnnxModel): string[] {
  return [...checkOpsets(model), ...checkTensors(model), ...checkDataflow(model)];
}

export function assertValidModel(model: OnnxModel): void {
  const issues = checkModel(model);
  if (issues.length > 0) throw new OnnxCheckError(issues);
}

/** The default-domain opset version, or undefined when it is not imported. */
export function defaultOpset(model: OnnxModel): number | undefined {
  return model.opsetImports.find((o) => DEFAULT_DOMAINS.has(o.domain))?.version;
}

function checkOpsets(model: OnnxModel): string[] {
  const issues: string[] = [];
  if (!Number.isInteger(model.irVersion) || model.irVersion < 3) issues.push(`ir_version ${model.irVersion} < 3`);
  const domains = new Set<string>();
  for (const { domain, version } of model.opsetImports) {
    const key = DEFAULT_DOMAINS.has(domain) ? '' : domain;
    if (domains.has(key)) issues.push(`opset for domain '${domain}' imported twice`);
    domains.add(key);
    if (!Number.isInteger(version) || version < 1) issues.push(`opset for domain '${domain}' has version ${version}`);
  }
  if (!domains.has('')) issues.push('no opset imported for the default ONNX domain');
  const missing = new Set<string>();
  for (const node of model.graph.nodes) {
    const domain = node.domain ?? '';
    if (!DEFAULT_DOMAINS.has(domain) && !domains.has(domain)) missing.add(domain);
  }
  for (const domain of missing) issues.push(`nodes use domain '${domain}' without an opset import`);
  return issues;
}

function checkTensors(model: OnnxModel): string[] {
  const issues: string[] = [];
  const opset = defaultOpset(model) ?? 0;
  const tensors = [
    ...model.graph.initializers,
    ...model.graph.nodes.flatMap((n) =>
      Object.values(n.attributes).flatMap((a) => (a.type === 'tensor' ? [a.value] : [])),
    ),
  ];
  for (const t of tensors) {
    if (t.dims.some((d) => !Number.isInteger(d) || d < 0)) issues.push(`tensor ${t.name} has dims [${t.dims}]`);
    else if (t.data.length !== numel(t.dims)) {
      issues.push(`tensor ${t.name} has ${t.data.length} values for dims [${t.dims}]`);
    }
    if ((t.dtype === 'int4' || t.dtype === 'uint4') && (opset < 21 || model.irVersion < 10)) {
      issues.push(`tensor ${t.name} is ${t.dtype}, which needs opset >= 21 and ir_version >= 10`);
    }
  }
  return issues;
}

function checkDataflow(model: OnnxModel): string[] {
  const { graph } = model;
  const issues: string[] = [];
  const defined = new Set<string>();
  const define = (name: string, what: string) => {
    if (name === '') issues.push(`${what} has an empty name`);
    else if (defined.has(name)) issues.push(`value ${name} is defined more than once (${what})`);
    defined.add(name);
  };
  const initializerNames = new Set(graph.initializers.map((t) => t.name));
  for (const input of graph.inputs) {
    // An input may share its name with an initializer (the initializer is then its default value).
    if (!initializerNames.has(input.name)) define(input.name, `graph input ${input.name}`);
  }
  for (const t of graph.initializers) define(t.name, `initializer ${t.name}`);

  const producedLater = new Set(graph.nodes.flatMap((n) => n.outputs));
  const nodeNames = new Set<string>();
  for (const [index, node] of graph.nodes.entries()) {
    const label = node.name || `#${index} (${node.opType})`;
    if (!node.opType) issues.push(`node ${label} has no op_type`);
    if (node.name) {
      if (nodeNames.has(node.name)) issues.push(`node name ${node.name} is used more than once`);
      nodeNames.add(node.name);
    }
    for (const input of node.inputs) {
      if (input === '' || defined.has(input)) continue;
      const why = producedLater.has(input) ? 'before it is produced (not topologically sorted)' : 'never defined';
      issues.push(`node ${label} reads ${input}, ${why}`);
    }
    for (const output of node.outputs) if (output !== '') define(output, `output of node ${label}`);
  }
  for (const output of graph.outputs) {
    if (!defined.has(output.name)) issues.push(`graph output ${output.name} is never defined`);
  }
  return issues;
}
