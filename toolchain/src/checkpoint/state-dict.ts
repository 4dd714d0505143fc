/**
 * Find the state_dict inside whatever a training script saved: the dict itself, or a wrapper such as
 * `{"ema": sd}`, `{"model": sd, "optimizer": ...}`, `{"state_dict": sd}`; and drop DataParallel's `module.`.
 */
import { CheckpointError } from './errors.ts';

/** Wrapper keys tried in order when the top level is not itself a state_dict. EMA first: it samples better. */
export const WRAPPER_KEYS = ['ema', 'state_dict', 'model'] as const;
const MAX_NESTING = 4;
const MODULE_PREFIX = 'module.';

export interface StateDictSelection<T> {
  entries: Map<string, T>;
  /** The wrapper keys followed to reach the state_dict, e.g. ["model"]; empty when the top level is one. */
  path: string[];
}

function tensorEntries<T>(dict: Map<unknown, unknown>, isTensor: (v: unknown) => v is T): Map<string, T> {
  const out = new Map<string, T>();
  for (const [key, value] of dict) if (typeof key === 'string' && isTensor(value)) out.set(key, value);
  return out;
}

function describeKeys(dict: Map<unknown, unknown>): string {
  const keys = [...dict.keys()].slice(0, 8).map((k) => JSON.stringify(String(k)));
  return `[${keys.join(', ')}${dict.size > 8 ? ', ...' : ''}]`;
}

/**
 * Walk wrappers down to the dict of tensors. With `key`, follow that key (dot-free) first. A dict whose values
 * are all tensors is a state_dict; otherwise the first WRAPPER_KEYS entry holding a dict is followed; a dict
 * with no such wrapper but some tensors yields those tensors.
 */
export function selectStateDict<T>(
  root: unknown,
  isTensor: (value: unknown) => value is T,
  key?: string,
): StateDictSelection<T> {
  const path: string[] = [];
  let node = root;
  if (key !== undefined) {
    if (!(node instanceof Map) || !node.has(key)) {
      const found = node instanceof Map ? ` (top-level keys: ${describeKeys(node)})` : '';
      throw new CheckpointError(`checkpoint has no entry "${key}"${found}`);
    }
    node = node.get(key);
    path.push(key);
  }
  for (let depth = 0; depth <= MAX_NESTING; depth++) {
    if (!(node instanceof Map)) throw new CheckpointError('checkpoint holds no dict of tensors (not a state_dict)');
    const tensors = tensorEntries(node, isTensor);
    if (tensors.size > 0 && tensors.size === node.size) return { entries: tensors, path };
    const wrapper = WRAPPER_KEYS.find((k) => node instanceof Map && node.get(k) instanceof Map);
    if (wrapper === undefined) {
      if (tensors.size > 0) return { entries: tensors, path };
      throw new CheckpointError(`no state_dict found in checkpoint: top-level keys ${describeKeys(node)}`);
    }
    node = node.get(wrapper);
    path.push(wrapper);
  }
  throw new CheckpointError(`no state_dict found within ${MAX_NESTING} levels of wrappers`);
}

/** Drop `module.` (nn.DataParallel / DDP) when every key has it; mixed keys are left alone. */
export function stripModulePrefix<T>(entries: Map<string, T>): { entries: Map<string, T>; strippedPrefix?: string } {
  if (entries.size === 0 || ![...entries.keys()].every((k) => k.startsWith(MODULE_PREFIX))) return { entries };
  const out = new Map<string, T>();
  for (const [k, v] of entries) out.set(k.slice(MODULE_PREFIX.length), v);
  return { entries: out, strippedPrefix: MODULE_PREFIX };
}
