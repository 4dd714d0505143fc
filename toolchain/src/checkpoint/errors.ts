import { CLIError } from '../errors.ts';

/** Every checkpoint problem a user can act on: missing file, corrupt file, refused pickle global, bad tensor. */
export class CheckpointError extends CLIError {
  override name = 'CheckpointError';
}
