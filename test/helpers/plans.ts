/** Small plans for tests, compiled from inline definitions. */
import { compileWorkflow } from '../../src/compiler/compile.ts';
import type { TriggerPlan } from '../../src/model/plan.ts';
import type { WorkflowInput } from '../../src/model/workflow.ts';

export function plan(def: WorkflowInput, source = 'workflows/test.yaml'): TriggerPlan {
  return compileWorkflow(def, { source });
}

/** a, b in parallel; c needs both (with simulate steps returning fixed outputs). */
export const diamondDef: WorkflowInput = {
  name: 'diamond',
  steps: {
    a: { executor: { type: 'simulate', durationMs: 0, output: 'A' } },
    b: { executor: { type: 'simulate', durationMs: 0, output: 'B' } },
    c: { needs: ['a', 'b'], executor: { type: 'simulate', durationMs: 0, output: 'C' } },
  },
};

/** split -> square (forEach) -> sum. */
export const fanoutDef: WorkflowInput = {
  name: 'fan',
  steps: {
    split: { executor: { type: 'simulate', durationMs: 0 } },
    square: { needs: ['split'], forEach: 'split', executor: { type: 'simulate', durationMs: 0 }, retry: { maxAttempts: 3, backoffMs: 1 } },
    sum: { needs: ['square'], executor: { type: 'simulate', durationMs: 0 } },
  },
  output: 'sum',
};
