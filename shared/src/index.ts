export * from './denoiser.ts';
export * from './manifest.ts';
export * from './tensor.ts';
export * from './store-layout.ts';
