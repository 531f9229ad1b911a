/** The problems of a WorkflowDefinitionError that `fn` must throw. */
import { expect } from 'vitest';
import { WorkflowDefinitionError, type Problem } from '../../src/model/errors.ts';

export function problemsOf(fn: () => unknown): Problem[] {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(WorkflowDefinitionError);
    return (e as WorkflowDefinitionError).problems;
  }
  throw new Error('expected a WorkflowDefinitionError');
}
