/**
 * The feature network behind `eval`, `table` and `compare`: either the FID Inception-v3 built from pytorch-fid's
 * checkpoint (`inception`), or any ONNX file taking [N, 3, H, W] float32 in [-1, 1] with named outputs. Which
 * output plays which role (class logits for IS, pooled features for FID and precision/recall, spatial features
 * for sFID) is given positionally, `logits,features,spatial`, `-` or an empty slot leaving a role out; by
 * default the outputs named logits / features (or pool) / spatial are used where present.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { readCheckpoint } from '../checkpoint/index.ts';
import { buildFidInception, FID_WEIGHTS_FILE, FID_WEIGHTS_URL } from '../models/inception.ts';
import { encodeModel } from '../onnx/model.ts';
import type { Device } from '../runtime/devices.ts';
import { createSession } from '../runtime/ort.ts';
import { sha256Hex } from '../store/digest.ts';
import { EvaluationError } from './errors.ts';
import type { FeatureOutputs, FeatureRole } from './features.ts';

export interface FeatureNetworkSpec {
  /** `inception` or the path of an .onnx file. */
  features: string;
  /** pytorch-fid's weights, for `inception` (default: the torch hub cache, see `defaultInceptionCheckpoint`). */
  checkpoint?: string;
  /** `logits,features,spatial`: output names by role, `-` or empty for none. */
  outputs?: string;
  threads?: number;
  /** Where the network runs (default cpu). */
  device?: Device;
}

/** What a saved reference-statistics file records about the network, so it is never used with another one. */
export interface FeatureNetworkId {
  name: string;
  /** sha256 of the ONNX bytes the session ran. */
  sha256: string;
  outputs: FeatureOutputs;
}

export interface FeatureNetwork {
  session: ort.InferenceSession;
  outputs: FeatureOutputs;
  id: FeatureNetworkId;
  device: Device;
  release(): Promise<void>;
}

export const ROLE_ORDER: FeatureRole[] = ['logits', 'pool', 'spatial'];

/** Output names tried for each role when `--features-outputs` is not given. */
const DEFAULT_NAMES: Record<FeatureRole, string[]> = {
  logits: ['logits'],
  pool: ['features', 'pool'],
  spatial: ['spatial'],
};

/** Where pytorch-fid (torch.hub) keeps the weights after its first run: $TORCH_HOME/hub/checkpoints. */
export function defaultInceptionCheckpoint(env: Record<string, string | undefined> = process.env): string {
  const torchHome = env.TORCH_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'torch');
  return join(torchHome, 'hub', 'checkpoints', FID_WEIGHTS_FILE);
}

/** `logits,features,spatial` -> roles; checks every named output exists and at least one role is set. */
export function resolveOutputs(available: readonly string[], spec?: string): FeatureOutputs {
  const outputs: FeatureOutputs = {};
  if (spec === undefined || spec.trim() === '') {
    for (const role of ROLE_ORDER) {
      const name = DEFAULT_NAMES[role].find((n) => available.includes(n));
      if (name) outputs[role] = name;
    }
  } else {
    const slots = spec.split(',').map((s) => s.trim());
    if (slots.length > 3) {
      throw new EvaluationError(`--features-outputs takes at most 3 names (logits,features,spatial), got "${spec}"`);
    }
    slots.forEach((name, i) => {
      if (name === '' || name === '-') return;
      if (!available.includes(name)) {
        throw new EvaluationError(
          `--features-outputs: the network has no output "${name}" (outputs: ${available.join(', ')})`,
        );
      }
      outputs[ROLE_ORDER[i]] = name;
    });
  }
  if (Object.keys(outputs).length === 0) {
    throw new EvaluationError(
      `the feature network has none of the outputs logits/features/spatial (outputs: ${available.join(', ')}); ` +
        'name them with --features-outputs logits,features,spatial',
    );
  }
  return outputs;
}

async function inceptionBytes(checkpoint: string | undefined): Promise<{ bytes: Uint8Array; name: string }> {
  const path = checkpoint ?? defaultInceptionCheckpoint();
  if (!existsSync(path)) {
    throw new EvaluationError(
      `--features inception needs pytorch-fid's weights (${FID_WEIGHTS_FILE}), not found at ${path}: download ` +
        `${FID_WEIGHTS_URL} and pass --features-checkpoint FILE`,
    );
  }
  const { tensors } = await readCheckpoint(path);
  return { bytes: encodeModel(buildFidInception(tensors)), name: `fid-inception-v3 (${basename(path)})` };
}

async function onnxBytes(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new EvaluationError(`--features ${path}: no such file (give "inception" or an .onnx file)`);
    }
    throw error;
  }
}

export async function openFeatureNetwork(spec: FeatureNetworkSpec): Promise<FeatureNetwork> {
  const inception = spec.features === 'inception';
  if (!inception && spec.checkpoint !== undefined) {
    throw new EvaluationError(
      '--features-checkpoint goes with --features inception (an .onnx file carries its weights)',
    );
  }
  const { bytes, name } = inception
    ? await inceptionBytes(spec.checkpoint)
    : { bytes: await onnxBytes(spec.features), name: basename(spec.features) };
  const device = spec.device ?? 'cpu';
  let session: ort.InferenceSession;
  try {
    session = await createSession(bytes, { threads: spec.threads, optimization: 'all', device, label: 'features' });
  } catch (error) {
    throw new EvaluationError(`--features ${spec.features}: onnxruntime cannot load it: ${(error as Error).message}`);
  }
  try {
    const outputs = resolveOutputs(session.outputNames, spec.outputs);
    return {
      session,
      outputs,
      id: { name, sha256: sha256Hex(bytes), outputs },
      device,
      release: () => session.release(),
    };
  } catch (error) {
    await session.release();
    throw error;
  }
}
