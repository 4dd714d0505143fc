import { CLIError } from '../errors.ts';

/** EvaluationError: an evaluation input the user can fix (a missing output, mismatched sets, a foreign stats file). */
export class EvaluationError extends CLIError {
  override name = 'EvaluationError';
}
