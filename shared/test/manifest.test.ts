import { describe, expect, it } from 'vitest';
import {
  type EdgeMemory,
  edgeHeapBytes,
  largestFittingBatch,
  MANIFEST_SCHEMA,
  type Manifest,
  ManifestError,
  manifestFiles,
  parseManifest,
} from '../src/manifest.ts';

const SHA = 'a'.repeat(64);

function manifest(overrides: Partial<Manifest> = {}): Manifest {
  return {
    schema: MANIFEST_SCHEMA,
    name: 'mnist32',
    createdAt: '2026-11-25T00:00:00.000Z',
    model: {
      architecture: 'improved-diffusion-unet',
      imageSize: 32,
      inChannels: 3,
      outChannels: 6,
      classCond: false,
      parameters: 10,
      flags: {},
    },
    diffusion: {
      diffusionSteps: 1000,
      noiseSchedule: 'cosine',
      learnSigma: true,
      rescaleTimesteps: true,
      timestepRespacing: '',
    },
    variants: { fp32: { file: 'model.fp32.onnx', bytes: 4, sha256: SHA, precision: 'fp32' } },
    ...overrides,
  };
}

const w8a8 = (file: string, report?: string) => ({ file, bytes: 2, sha256: SHA, precision: 'w8a8', report });
const edgeGraph = (file: string) => ({ file, bytes: 3, sha256: SHA, runtime: 'onnxruntime 1.30.0', level: 'extended' });

const MiB = 2 ** 20;
const memory: EdgeMemory = {
  runtime: 'onnxruntime 1.30.0 wasm',
  heapBytes: [
    { n: 1, bytes: 88 * MiB },
    { n: 2, bytes: 88 * MiB },
    { n: 4, bytes: 110 * MiB },
  ],
  perSampleBytes: 11 * MiB,
};

describe('edge memory', () => {
  it('reads the smallest measured batch at or above n, and extrapolates past the last', () => {
    expect([1, 2, 3, 4].map((n) => edgeHeapBytes(memory, n) / MiB)).toEqual([88, 88, 110, 110]);
    expect(edgeHeapBytes(memory, 6) / MiB).toBe(132);
  });

  it('finds the largest batch under a budget, 0 when none fits, capped at the limit', () => {
    expect(largestFittingBatch(memory, 100 * MiB, 16)).toBe(2);
    expect(largestFittingBatch(memory, 80 * MiB, 16)).toBe(0);
    expect(largestFittingBatch(memory, 10_000 * MiB, 8)).toBe(8);
  });

  it('is kept by parseManifest', () => {
    const int8 = { ...w8a8('m.onnx'), edgeGraph: { ...edgeGraph('e.ort'), format: 'ort', memory } };
    const parsed = parseManifest({ ...manifest(), variants: { ...manifest().variants, int8 } });
    expect(parsed.variants.int8.edgeGraph?.memory).toEqual(memory);
  });
});

describe('parseManifest', () => {
  it('accepts a complete manifest', () => {
    expect(parseManifest(manifest()).name).toBe('mnist32');
  });

  it('keeps the size and sha256 of each build report', () => {
    const reports = { 'report.int8.html': { bytes: 12, sha256: SHA } };
    expect(parseManifest(manifest({ report: 'report.int8.html', reports })).reports).toEqual(reports);
  });

  it('keeps the serving schedule a variant was calibrated for', () => {
    const schedule = { sampler: 'dpm++2m' as const, steps: 'ddim10' };
    const parsed = parseManifest(manifest({ variants: { int8: { ...w8a8('m.onnx'), schedule } } }));
    expect(parsed.variants.int8.schedule).toEqual(schedule);
  });

  it.each([
    ['schema', { schema: 'qdm.artifact/0' }, /schema/],
    ['an empty name', { name: '' }, /name/],
    ['a traversing variant file', { variants: { fp32: { ...manifest().variants.fp32, file: '../x.onnx' } } }, /file/],
    ['a short sha256', { variants: { fp32: { ...manifest().variants.fp32, sha256: 'abc' } } }, /sha256/],
    ['a variant report with a directory', { variants: { int8: w8a8('m.onnx', 'reports/r.html') } }, /report/],
    ['a top-level report with a directory', { report: 'a/report.html' }, /report/],
    ['a Winograd tile other than 2 or 4', { variants: { w: { ...w8a8('w.onnx'), winograd: { tile: 3 } } } }, /tile/],
    [
      'a schedule with an unknown sampler',
      { variants: { int8: { ...w8a8('m.onnx'), schedule: { sampler: 'euler', steps: 'ddim10' } } } },
      /variants\.int8\.schedule\.sampler/,
    ],
    [
      'a schedule with malformed steps',
      { variants: { int8: { ...w8a8('m.onnx'), schedule: { sampler: 'ddim', steps: 'ddimX' } } } },
      /variants\.int8\.schedule\.steps/,
    ],
    [
      'an edge graph outside the artifact',
      { variants: { int8: { ...w8a8('m.onnx'), edgeGraph: edgeGraph('../e') } } },
      /edgeGraph\.file/,
    ],
    [
      'an edge graph without its runtime',
      { variants: { int8: { ...w8a8('m.onnx'), edgeGraph: { ...edgeGraph('e.onnx'), runtime: '' } } } },
      /edgeGraph\.runtime/,
    ],
    [
      'an edge graph of an unknown format',
      { variants: { int8: { ...w8a8('m.onnx'), edgeGraph: { ...edgeGraph('e.ort'), format: 'tflite' } } } },
      /edgeGraph\.format/,
    ],
    [
      'a report digest with a short sha256',
      { reports: { 'r.html': { bytes: 3, sha256: 'abc' } } },
      /reports\.r\.html\.sha256/,
    ],
    ['a report digest without its size', { reports: { 'r.html': { sha256: SHA } } }, /reports\.r\.html\.bytes/],
    ['a report digest that is not an object', { reports: { 'r.html': null } }, /reports\.r\.html/],
    ['a hashed report with a directory', { reports: { '../r.html': { bytes: 3, sha256: SHA } } }, /reports/],
    [
      'edge memory with batches out of order',
      {
        variants: {
          int8: {
            ...w8a8('m.onnx'),
            edgeGraph: { ...edgeGraph('e.ort'), memory: { ...memory, heapBytes: [...memory.heapBytes].reverse() } },
          },
        },
      },
      /edgeGraph\.memory\.heapBytes/,
    ],
  ])('refuses %s, naming the field', (_what, overrides, message) => {
    const bad = { ...manifest(), ...overrides } as unknown;
    expect(() => parseManifest(bad)).toThrow(ManifestError);
    expect(() => parseManifest(bad)).toThrow(message);
  });
});

describe('manifestFiles', () => {
  it('names each file once: variants, their reports, then the latest report', () => {
    const m = manifest({
      variants: {
        ...manifest().variants,
        int8: w8a8('model.int8.onnx', 'report.int8.html'),
        'int8-w4a8': w8a8('model.int8-w4a8.onnx', 'report.int8.html'),
        'int8-ptq4dm': w8a8('model.int8-ptq4dm.onnx', 'report.int8-ptq4dm.html'),
      },
      report: 'report.int8-ptq4dm.html',
    });
    expect(manifestFiles(m)).toEqual([
      'model.fp32.onnx',
      'model.int8.onnx',
      'model.int8-w4a8.onnx',
      'model.int8-ptq4dm.onnx',
      'report.int8.html',
      'report.int8-ptq4dm.html',
    ]);
  });

  it('names edge graphs after the variant files', () => {
    const int8 = { ...w8a8('model.int8.onnx'), edgeGraph: edgeGraph('model.int8.edge.onnx') };
    const m = manifest({ variants: { ...manifest().variants, int8 } });
    expect(parseManifest(m).variants.int8.edgeGraph?.file).toBe('model.int8.edge.onnx');
    expect(manifestFiles(m)).toEqual(['model.fp32.onnx', 'model.int8.onnx', 'model.int8.edge.onnx']);
  });
});
