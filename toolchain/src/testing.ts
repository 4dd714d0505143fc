/**
 * `@qdm/toolchain/testing`: small deterministic models and data for tests and benches (hashed weights, no files).
 * Not for building artifacts.
 */

/** Seeded Gaussian feature matrices with a tilt, for the metric math (FID, precision-recall) at any size. */
export { syntheticFeatures } from '../test/fixtures/eval/fixtures.ts';
/** The hashed tensors they are built from, reproducible from PyTorch (test/fixtures/unet). */
export { hashInput, hashWeight, hashWeights } from '../test/fixtures/unet/hash-tensors.ts';
/** Tiny improved-diffusion U-Nets (16 and 8 px) and a synthetic calibration set. */
export { PLAIN_FLAGS, syntheticCalibration, TINY_FLAGS, tinyUNet } from './quantize/test-model.ts';
