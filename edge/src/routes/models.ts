import { type EdgeMemory, edgeHeapBytes, largestFittingBatch, type VariantEntry } from '@qdm/shared';
import { Hono } from 'hono';
import type { EdgeConfig } from '../config.ts';
import { chooseEdgeGraph } from '../engine/edge-graph-choice.ts';
import { type Engine, variantMemory } from '../engine/engine.ts';
import type { SessionFactory } from '../engine/session.ts';
import { toHttpError } from '../errors.ts';
import { DEFAULT_SAMPLER, DEFAULT_STEPS } from '../sample-request.ts';

const finite = (v: number) => (Number.isFinite(v) ? v : null);

/** The build-time heap measurement and the largest n this deployment's budget admits (null: not measured). */
function memoryInfo(memory: EdgeMemory | undefined, config: EdgeConfig) {
  if (!memory) return null;
  const maxN = Number.isFinite(config.memoryBudget)
    ? largestFittingBatch(memory, config.memoryBudget, config.maxBatch)
    : config.maxBatch;
  return {
    runtime: memory.runtime,
    n1Bytes: edgeHeapBytes(memory, 1),
    perSampleBytes: memory.perSampleBytes,
    measured: memory.heapBytes,
    maxN,
  };
}

/**
 * A variant with wide steps: which steps, and whether this deployment serves them (null: none, or no edge graph
 * tells; the portable graph always carries them).
 */
function wideStepsInfo(entry: VariantEntry, factory: SessionFactory, config: EdgeConfig) {
  const wide = entry.quantization?.wideSteps;
  if (!wide) return null;
  const served = chooseEdgeGraph(entry, factory, config.memoryBudget)?.wideSteps ?? { served: true };
  return { first: wide.first, last: wide.last, respacing: wide.respacing, ...served };
}

/**
 * `GET /models`: every artifact with its variants' sizes and quantization settings, whether this deployment can
 * load each (size limit), and the request limits; broken artifacts say why.
 */
export function modelRoutes(engine: Engine, location: string, config: EdgeConfig, factory: SessionFactory): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    const names = await engine.catalog.names();
    const loaded = new Set(engine.sessions.loaded());
    const models = await Promise.all(
      names.map(async (name) => {
        try {
          const { manifest, version } = await engine.catalog.open(name);
          const variants = Object.fromEntries(
            Object.entries(manifest.variants).map(([key, v]) => [
              key,
              {
                file: v.file,
                bytes: v.bytes,
                sha256: v.sha256,
                precision: v.precision,
                quantization: v.quantization ?? null,
                servable: v.bytes <= config.maxModelBytes,
                memory: memoryInfo(variantMemory(v, factory, config.memoryBudget), config),
                wideSteps: wideStepsInfo(v, factory, config),
                // What a /sample naming no sampler or steps runs: the schedule the variant was calibrated for.
                schedule: v.schedule
                  ? { ...v.schedule, calibrated: true }
                  : { sampler: DEFAULT_SAMPLER, steps: DEFAULT_STEPS, calibrated: false },
                loaded: loaded.has(`${name}/${key}`),
              },
            ]),
          );
          return {
            name,
            version: version ?? null,
            createdAt: manifest.createdAt,
            imageSize: manifest.model.imageSize,
            channels: manifest.model.inChannels,
            parameters: manifest.model.parameters,
            diffusion: manifest.diffusion,
            variants,
          };
        } catch (error) {
          return { name, error: toHttpError(error).message };
        }
      }),
    );
    const limits = {
      maxBatch: config.maxBatch,
      maxSteps: config.maxSteps,
      workBudget: config.workBudget,
      maxModelBytes: finite(config.maxModelBytes),
      memoryBudget: finite(config.memoryBudget),
      maxQueueMs: config.maxQueueMs,
      defaultVariant: config.defaultVariant,
    };
    return c.json({ source: location, runtime: factory.info ?? null, limits, models });
  });
  return app;
}
