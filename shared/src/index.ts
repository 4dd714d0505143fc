export * from './denoiser.ts';
export * from './manifest.ts';
export * from './tensor.ts';
export * from './store-layout.ts';
export * from './image.ts';
export * from './npy.ts';
export * from './npz.ts';
export * from './png.ts';
