/**
 * What a step handler needs of joinflow, and nothing more: `import { NonRetriableStepError } from
 * 'joinflow/handler'`. The package's main entry also loads the engine, the compiler and zod, about
 * 180 ms of a handler worker's start; this one loads one small module.
 */
export { JoinflowError, NonRetriableStepError } from './model/errors.ts';
export type { StepContext, StepEvent, StepHandler } from './model/workflow.ts';
