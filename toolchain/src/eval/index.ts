/** The evaluation library behind `toolchain eval`: features, IS / FID / sFID / precision-recall, stats files. */
export * from './features.ts';
export * from './fid.ts';
export * from './inception-score.ts';
export * from './mnist-idx.ts';
export * from './moments.ts';
export * from './precision-recall.ts';
export * from './resize.ts';
export * from './stats-file.ts';
export { symmetricEigen, symmetricEigenvalues } from './symmetric-eigen.ts';
