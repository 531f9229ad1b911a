/**
 * The memory of a function step's Lambda, as deploy gives it (deploy/lib.cjs, functions.cjs):
 * `joinflow plan` prices a step at it and `joinflow run --cost` bills a step's duration at it.
 */
import type { PlanStep } from '../model/plan.ts';
import { ASSUMPTIONS } from './prices.ts';

/**
 * An `auto` step placed on Lambda has the memory its placement chose (raised to buy vCPUs, up to
 * 10,240 MB); any other function step the stage's step memory (serverless.yml
 * custom.joinflow.stepMemoryMb; 1,024 MB without it).
 */
export function lambdaMemoryMb(step: Pick<PlanStep, 'placement'> | undefined, stepMemoryMb: number = ASSUMPTIONS.functionMemoryMb): number {
  return step?.placement?.target === 'lambda' ? step.placement.memoryMb : stepMemoryMb;
}
