import type { Subscription } from './subscriptions.ts';
import type { ExecutorSpec, RetrySpec, StepFiles } from './workflow.ts';

/** An EventBridge event pattern (the subset the compiler emits; see model/pattern.ts). */
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
  /** An item of a forEach with maxConcurrency has its result: start the item maxConcurrency places after it. */
  | { type: 'release'; step: string }
  /** Schedule the next attempt of a failed step. */
  | { type: 'retry' }
  /** A step failed for good: fail the run. */
  | { type: 'fail-run' }
  /** The step can never run (a need failed, or too many for its quorum): it fails as NeedsFailed. */
  | { type: 'lose'; step: string }
  /** All sinks (or the output step) completed: the run succeeded. */
  | { type: 'succeed-run' };

/** One trigger: event pattern + condition + action (Triggerflow's ECA model). */
export type Trigger = {
  id: string;
  activation: EventPattern;
  condition: Condition;
  action: Action;
};

/** Where a step runs on AWS: a Lambda function, or an AWS Batch job on the CPU or the GPU queue. */
export type PlacementTarget = 'lambda' | 'batch-cpu' | 'batch-gpu';

/** The compiler's placement of an `executor: auto` step (compiler/placement.ts). */
export type Placement = {
  target: PlacementTarget;
  /** Why: "fits Lambda", or every Lambda limit the step passes ("gpus 1", "memory ... > ..."). */
  reason: string;
  /** What the step gets there (memory raised on Lambda to buy vCPUs, sizes rounded up to Fargate's). */
  memoryMb: number;
  vcpus: number;
  gpus: number;
  expectedSeconds?: number;
  /** The step's handler: runs it on the embedded engine where there is no local command. */
  handler: { module: string; export: string };
};

/** A Lambda-placed step's second placement: after a timeout, its next attempts run here. */
export type Fallback = {
  target: 'batch-cpu';
  /** A `batch` executor (on the embedded engine it may be swapped for the handler). */
  executor: ExecutorSpec;
};

/** A step as the runtime needs it: defaults applied, module paths resolved. */
export type PlanStep = {
  needs: string[];
  executor: ExecutorSpec;
  retry: RetrySpec;
  timeoutMs?: number;
  /** Ready, the step's first attempt waits this long on the engine's timer. */
  delayMs?: number;
  /** `maxConcurrency`: at most this many items run at once (runtime/window.ts). */
  forEach?: { step: string; path?: string; maxConcurrency?: number };
  /** Only `auto` steps: where the compiler put them, and why. */
  placement?: Placement;
  /** Only Lambda-placed `auto` steps with `fallback: batch`. */
  fallback?: Fallback;
  /** `resources.expectedSeconds` of a step that is not `auto`, for cost estimates and the start order (runtime/priority.ts). */
  expectedSeconds?: number;
  /** Data files staged for the step (see StepFilesSchema). */
  files?: StepFiles;
  /** How many of its needs the step waits for, when fewer than all (`wait: any` is 1). */
  quorum?: number;
  /** Runs only when this pattern matches `{input, results}`; otherwise it is skipped (a choice). */
  when?: EventPattern;
  /**
   * Some of its needs may be skipped: it gets no result for those, and it is skipped when all of
   * them were (or, for a forEach step, the step it fans out over was).
   */
  needsMaySkip?: true;
  /** The step that runs when this one fails for good (its failure does not fail the run). */
  catch?: string;
  /** For a catch step: the step it catches (also its only need). */
  catches?: string;
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
  /** Subscriptions declared in the workflow, their patterns scoped to its events. */
  subscriptions?: Subscription[];
};
