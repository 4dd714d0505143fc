import { ManifestError } from '@qdm/shared';
import { describe, expect, it } from 'vitest';
import { ArtifactError } from '../artifact/folder.ts';
import { BuildKeptError } from '../build-artifact/build.ts';
import { CalibrationDataError } from '../build-artifact/calibration-data.ts';
import { EdgeGraphError } from '../build-artifact/edge-graph.ts';
import { CalibrationError } from '../calibrate/timesteps.ts';
import { CheckpointError } from '../checkpoint/errors.ts';
import { CLIError, UsageError, UserError } from '../errors.ts';
import { EvaluationError } from '../eval/errors.ts';
import { DownloadError } from '../fetch/download.ts';
import { FlagsError } from '../models/flags.ts';
import { BudgetError } from '../quantize/plan/mixed-precision.ts';
import { PlanError } from '../quantize/plan/plan.ts';
import { WideStepsError } from '../quantize/steps/wide-steps.ts';
import { DeviceUnavailableError } from '../runtime/devices.ts';
import { SampleFileError } from '../sampling/files.ts';
import { StoreError } from '../store/errors.ts';
import { asCliError } from './main.ts';

describe('CLI errors', () => {
  it('every error a user can cause is a CLIError with its exit code: 2 for the command line, 1 otherwise', () => {
    const usage = [new UsageError('u'), new BudgetError('b'), new WideStepsError('w')];
    const failure = [
      new UserError('u'),
      new ArtifactError('a'),
      new CalibrationDataError('c'),
      new CalibrationError('c'),
      new CheckpointError('c'),
      new EvaluationError('e'),
      new DownloadError('d', false),
      new FlagsError('f'),
      new PlanError('p'),
      new DeviceUnavailableError('d'),
      new SampleFileError('s'),
      new StoreError('s3://b/k', 'denied'),
      new EdgeGraphError('e'),
    ];
    for (const error of usage) expect([asCliError(error)?.code, error.name]).toEqual([2, error.constructor.name]);
    for (const error of failure) expect([asCliError(error)?.code, error.name]).toEqual([1, error.constructor.name]);
  });

  it('wraps file system, shared codec and citty errors, and leaves bugs alone', () => {
    const missing = Object.assign(new Error('ENOENT: open'), { code: 'ENOENT', path: '/x/y.npz' });
    expect(asCliError(missing)?.message).toBe('/x/y.npz: no such file or directory');
    expect(asCliError(new ManifestError('manifest: bad'))?.code).toBe(1);
    const citty = Object.assign(new Error('Unknown command'), { name: 'CLIError' });
    expect(asCliError(citty)?.code).toBe(2);
    expect(asCliError(new TypeError('x is undefined'))).toBeUndefined();
    // A name ending in "Error" no longer makes an error user-facing.
    expect(asCliError(Object.assign(new Error('boom'), { name: 'SomeLibraryError' }))).toBeUndefined();
  });

  it('a build failing after long work says in one line what it kept and what to rerun', () => {
    const kept = { dir: '/a/mnist32', files: ['model.w4a8.onnx'], complete: false };
    const internal = new BuildKeptError(new TypeError('x is undefined'), kept, '/a/mnist32');
    expect(internal.message).toMatch(
      /^internal error: x is undefined \(QDM_DEBUG=1 shows the stack\); kept model\.w4a8\.onnx in \/a\/mnist32 .*rerun the same build-artifact command/,
    );
    expect(internal.message).not.toMatch(/\n/);
    expect(internal.code).toBe(1);
    const user = new BuildKeptError(new StoreError('s3://b/k', 'access denied'), { ...kept, complete: true }, 's3://b');
    expect(user.message).toBe(
      's3://b/k: access denied; the built artifact is complete in /a/mnist32: publish it with toolchain push --from /a/mnist32 --to s3://b',
    );
    expect(user).toBeInstanceOf(CLIError);
  });
});
