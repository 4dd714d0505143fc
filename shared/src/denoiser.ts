/**
 * The model as the samplers see it: x is [batch, C, H, W] float32 (NCHW), t is [batch] float32 holding exactly
 * the value the U-Net's timestep input receives (already rescaled, see SpacedDiffusion.modelTime).
 * Returns [batch, outChannels, H, W]: epsilon in the first C channels, with learn_sigma the variance values after.
 */
export type Denoiser = (x: Float32Array, t: Float32Array, batch: number) => Promise<Float32Array>;
