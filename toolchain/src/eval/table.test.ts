import type { Manifest, VariantEntry } from '@qdm/shared';
import { describe, expect, it } from 'vitest';
import type { QualityMetrics } from './quality.ts';
import { calibrationLabel, markdownTable, methodLabel, rowJson, type TableRow, tableVariants } from './table.ts';

const entry = (precision: string, quantization?: VariantEntry['quantization']): VariantEntry => ({
  file: 'm.onnx',
  bytes: 1,
  sha256: '0'.repeat(64),
  precision,
  quantization,
});

const manifest = (variants: Record<string, VariantEntry>, calibration?: Record<string, unknown>) =>
  ({ variants, calibration }) as unknown as Manifest;

describe('table rows', () => {
  it('puts fp32 first, then the manifest order; --variants restricts', () => {
    const m = manifest({ int8: entry('w8a8'), fp32: entry('fp32'), w4a8: entry('w4a8') });
    expect(tableVariants(m)).toEqual(['fp32', 'int8', 'w4a8']);
    expect(tableVariants(m, ['w4a8', 'fp32'])).toEqual(['fp32', 'w4a8']);
    expect(() => tableVariants(m, ['int4'])).toThrow(/no variant int4/);
  });

  it('labels method and calibration from the quantization settings, wherever the policy is written', () => {
    const q = { scheme: 'ptq4dm', weightBits: 8, activationBits: 8, recon: 'none' };
    expect(methodLabel(entry('fp32'))).toBe('fp32');
    expect(methodLabel(entry('w8a8', q))).toBe('ptq4dm W8A8');
    const w4 = {
      scheme: 'full',
      weightBits: 4,
      activationBits: 8,
      recon: 'gptq',
      w8Share: 0.149,
      noiseCorrection: 'ptqd',
    };
    expect(methodLabel(entry('w4a8', w4))).toBe('full W4A8 gptq 15% w8 ptqd');
    expect(methodLabel(entry('w4a8', { ...w4, w8Share: undefined, noiseCorrection: 'none' }))).toBe('full W4A8 gptq');
    const wideSteps = {
      first: 1,
      last: 4,
      respacing: 'ddim50',
      tAbove: 970,
      tBelow: 70,
      activations: 'float' as const,
    };
    expect(methodLabel(entry('w8a8', { ...q, scheme: 'full', wideSteps }))).toBe('full W8A8 wide 1+4/ddim50');
    expect(calibrationLabel(manifest({}), entry('fp32'))).toBe('—');
    expect(calibrationLabel(manifest({}), entry('w8a8', { ...q, calibration: 'normal' }))).toBe('normal');
    expect(calibrationLabel(manifest({}), entry('w8a8', { ...q, calibration: { kind: 'uniform', samples: 64 } }))).toBe(
      'uniform',
    );
    expect(calibrationLabel(manifest({}, { timesteps: { kind: 'every-k', every: 5 } }), entry('w8a8', q))).toBe(
      'every-k',
    );
    expect(calibrationLabel(manifest({}), entry('w8a8', q))).toBe('—');
  });

  it('writes Markdown cells that cannot break the table or become HTML', () => {
    const metrics: QualityMetrics = {
      is: 2.5,
      is_std: 0,
      is_splits: 1,
      fid: null,
      sfid: null,
      precision: 0.5,
      recall: 0.25,
      reasons: { fid: 'x', sfid: 'y' },
    };
    const row: TableRow = {
      variant: 'a|b<i>',
      format: 'w8a8',
      method: 'full W8A8',
      calibration: 'uniform',
      sha256: '1'.repeat(64),
      metrics,
      vsFp32: { psnr: 100, psnrMin: 100, psnrPooled: 100, identical: 3, mse: 0, ssim: 1, maxAbs: 0 },
      samplingSeconds: 1,
    };
    const lines = markdownTable([row]).trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('| a\\|b&lt;i&gt; | full W8A8 | uniform | 2.500 | — | — | 0.500 | 0.250 | 100.00 |');
    expect(rowJson(row)).toMatchObject({
      psnr_vs_fp32: 100,
      identical_images_vs_fp32: 3,
      mse_vs_fp32: 0,
      identical_to_fp32: true,
      fid: null,
    });
  });
});
