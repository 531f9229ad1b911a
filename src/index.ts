/** Public API of joinflow: define workflows, compile them, run them on the embedded engine. */
export { workflow, fn, proc, simulate, auto, WorkflowBuilder, type StepOptions } from './model/builder.ts';
export type { StepEvent, StepContext, StepHandler, Workflow, WorkflowInput, ExecutorSpec, RetrySpec } from './model/workflow.ts';
export { JoinflowError, WorkflowDefinitionError, NonRetriableStepError, UsageError } from './model/errors.ts';
export type { EventEnvelope } from './model/events.ts';
export { DetailType } from './model/events.ts';
export type { TriggerPlan, Trigger } from './model/plan.ts';
export { compileWorkflow, serializePlan } from './compiler/compile.ts';
export { importWfCommons } from './importers/wfcommons.ts';
export { parseExecutorMapping, singleExecutorMapping, type ExecutorMapping } from './importers/wfcommons-executors.ts';
export { createEngine, Engine, type EngineOptions, type RunResult, type TraceRecord } from './adapters/local/engine.ts';
export { createMemoryStore } from './adapters/local/memory-store.ts';
export { compileFile, findWorkflowFile } from './adapters/local/workflow-files.ts';
export { openDurableState } from './adapters/local/durable-state.ts';
