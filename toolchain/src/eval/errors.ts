/** EvaluationError: an evaluation input the user can fix (a missing output, mismatched sets, a foreign stats file). */
export class EvaluationError extends Error {
  override name = 'EvaluationError';
}
