import type { ExecutorSpec, RetrySpec, StepFiles } from './workflow.ts';

/** An EventBridge event pattern (the subset the compiler emits; see runtime/pattern.ts). */
export type EventPattern = { [key: string]: unknown };

/** Which field of an arriving event identifies the arrival (never the event id: retries change it). */
export type ArrivalKey = 'run' | 'step' | 'item' | 'attempt';

/**
 * When a trigger fires. `join`: after `need` distinct arrivals (`need: "dynamic"` is set at run
 * time by a fan-out); `always`: every distinct arrival fires (keyed, so still exactly once per key).
 */
export type Condition =
  | { type: 'join'; need: number | 'dynamic'; key: ArrivalKey }
  | { type: 'always'; key: ArrivalKey };

/** What a trigger does when it fires. */
export type Action =
  /** Run the step (one execution, or one per item for a forEach step). */
  | { type: 'dispatch'; step: string }
  /** All items of a forEach step finished: emit its aggregate Step Completed. */
  | { type: 'collect'; step: string }
  /** Schedule the next attempt of a failed step. */
  | { type: 'retry' }
  /** A step failed for good: fail the run. */
  | { type: 'fail-run' }
  /** All sinks (or the output step) completed: the run succeeded. */
  | { type: 'succeed-run' };

/** One trigger: event pattern + condition + action (Triggerflow's ECA model). */
export type Trigger = {
  id: string;
  activation: EventPattern;
  condition: Condition;
  action: Action;
};

/** A step as the runtime needs it: defaults applied, module paths resolved. */
export type PlanStep = {
  needs: string[];
  executor: ExecutorSpec;
  retry: RetrySpec;
  timeoutMs?: number;
  forEach?: { step: string; path?: string };
  /** Data files staged for the step (see StepFilesSchema). */
  files?: StepFiles;
};

/** The compiled form of one workflow; written to triggers/<workflow>.json. */
export type TriggerPlan = {
  version: 1;
  workflow: string;
  /** Workflow file, relative to the project root (posix separators). */
  source: string;
  steps: Record<string, PlanStep>;
  triggers: Trigger[];
  /** The run output: one step's output, or an object of the sink steps' outputs. */
  output: { step: string } | { sinks: string[] };
  stats: { steps: number; edges: number; depth: number; criticalPathMs: number | null };
};
