import { z } from 'zod';

/** `source` of every event joinflow itself emits. */
export const JOINFLOW_SOURCE = 'joinflow';

/** The detail-types of the event model (DESIGN.md, "Events"). */
export const DetailType = {
  RunRequested: 'Run Requested',
  StepStarted: 'Step Started',
  StepCompleted: 'Step Completed',
  StepFailed: 'Step Failed',
  StepSkipped: 'Step Skipped',
  RunSucceeded: 'Run Succeeded',
  RunFailed: 'Run Failed',
  RunCancelled: 'Run Cancelled',
} as const;
export type DetailType = (typeof DetailType)[keyof typeof DetailType];

/**
 * Whether joinflow's triggers hear events of this detail-type: Run Requested and a step's ends.
 * Step Started and a run's end drive no trigger; they are for subscribers.
 */
export function drivesTriggers(type: string): boolean {
  return type === DetailType.RunRequested || type === DetailType.StepCompleted || type === DetailType.StepFailed || type === DetailType.StepSkipped;
}

/** Whether some of these events drive a trigger (see {@link drivesTriggers}). */
export function anyDrivesTriggers(events: readonly EventEnvelope[]): boolean {
  for (const e of events) if (drivesTriggers(e['detail-type'])) return true;
  return false;
}

/** The EventBridge envelope, used locally too. */
export type EventEnvelope<D = Record<string, unknown>> = {
  id: string;
  source: string;
  'detail-type': string;
  time: string;
  detail: D;
  /** ARNs the event concerns, as a PutEvents entry's Resources give them (joinflow's own events have none). */
  resources?: string[];
};

export const EnvelopeSchema = z.object({
  id: z.string().min(1),
  source: z.string().min(1),
  'detail-type': z.string().min(1),
  time: z.string(),
  detail: z.record(z.string(), z.unknown()),
  resources: z.array(z.string()).optional(),
});

/** A step error as carried by events. */
export type StepError = { type: string; message: string };
export const StepErrorSchema = z.object({ type: z.string(), message: z.string() });

/** The characters a run id may have (it names files and DynamoDB keys): "." and ".." are not names. */
const RUN_ID = /^(?!\.\.?$)[A-Za-z0-9_.:-]+$/;
const RUN_ID_RULE = 'letters, digits, "_", ".", ":" or "-" only, and not "." or ".."';

/** Why `id` cannot be a run id, or undefined when it can. */
export function runIdProblem(id: string): string | undefined {
  if (id.length === 0 || id.length > 128) return 'from 1 to 128 characters';
  return RUN_ID.test(id) ? undefined : RUN_ID_RULE;
}

/**
 * `joinflow <command> <runId><flags>` as a message suggests it: a run id that starts with a dash
 * (`-x`) would be read as an option, so it goes last, after `--` (`joinflow cancel --stage S -- -x`).
 * Run ids need no quoting (see RUN_ID).
 */
export function runIdCommand(command: string, runId: string, flags = ''): string {
  return runId.startsWith('-') ? `joinflow ${command}${flags} -- ${runId}` : `joinflow ${command} ${runId}${flags}`;
}

export const RunRequestedSchema = z.object({
  workflow: z.string().min(1),
  runId: z.string().min(1).max(128).regex(RUN_ID, RUN_ID_RULE).optional(),
  input: z.unknown().optional(),
});

const stepRefFields = {
  workflow: z.string().min(1),
  runId: z.string().min(1),
  step: z.string().min(1),
  attempt: z.number().int().min(1),
  item: z.number().int().nonnegative().optional(),
  /** Where the attempt ran, for steps the compiler placed: lambda, batch-cpu or batch-gpu. */
  placement: z.string().optional(),
};

export const StepCompletedSchema = z.object({
  ...stepRefFields,
  output: z.unknown().optional(),
  /** Set on the aggregate completion of a forEach step: how many items it joined. */
  items: z.number().int().nonnegative().optional(),
});

export const StepFailedSchema = z.object({
  ...stepRefFields,
  error: StepErrorSchema,
  retrying: z.boolean(),
});

/** A step that did not run because its `when` did not match, or because every step it needs was skipped. */
export const StepSkippedSchema = z.object({
  workflow: z.string().min(1),
  runId: z.string().min(1),
  step: z.string().min(1),
  reason: z.string(),
});

/** The error type of a cancelled run: its record's and its Run Cancelled's `error`. */
export const CANCELLED = 'Cancelled';

/**
 * The detail of Run Cancelled: `reason`, and, as a run's end carries its error (DESIGN.md,
 * "Events"), `error` {type: 'Cancelled', message: the reason}, as the run's record has it.
 */
export function runCancelledDetail(workflow: string, runId: string, reason: string): { workflow: string; runId: string; reason: string; error: StepError } {
  return { workflow, runId, reason, error: { type: CANCELLED, message: reason } };
}

/** The error type of a step that can never run because its needs failed (it fails without an attempt). */
export const NEEDS_FAILED = 'NeedsFailed';

export type RunRequested = z.infer<typeof RunRequestedSchema>;
export type StepCompleted = z.infer<typeof StepCompletedSchema>;
export type StepFailed = z.infer<typeof StepFailedSchema>;
export type StepSkipped = z.infer<typeof StepSkippedSchema>;

const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
// zod's int() accepts safe integers only.
const isCount = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;

/**
 * Fast structural checks equivalent to the schemas above, for the hot path: every event is
 * checked, but only rejected ones pay for zod, which then explains what is wrong.
 */
export function isEnvelope(e: unknown): e is EventEnvelope {
  if (typeof e !== 'object' || e === null) return false;
  const r = e as Record<string, unknown>;
  const d = r['detail'];
  return isId(r['id']) && isId(r['source']) && isId(r['detail-type']) && typeof r['time'] === 'string' &&
    typeof d === 'object' && d !== null && !Array.isArray(d);
}

/** True when `d` satisfies RunRequestedSchema. */
export function isRunRequested(d: Record<string, unknown>): d is RunRequested {
  const runId = d['runId'];
  return isId(d['workflow']) && (runId === undefined || (typeof runId === 'string' && runId.length <= 128 && RUN_ID.test(runId)));
}

/**
 * The run the Run Requested event `e` starts, as the processor takes it: its detail's runId, else
 * its event id. Undefined when it starts none: not a Run Requested of that shape, or an event id
 * that cannot name a run (the processor dead-letters it). Its source is not looked at.
 */
export function requestedRunId(e: EventEnvelope): string | undefined {
  const d = e.detail as Record<string, unknown> | undefined;
  if (e['detail-type'] !== DetailType.RunRequested || typeof d !== 'object' || d === null || !isRunRequested(d)) return undefined;
  if (d.runId !== undefined) return d.runId;
  return typeof e.id === 'string' && runIdProblem(e.id) === undefined ? e.id : undefined;
}

/** True when `d` satisfies StepCompletedSchema. */
export function isStepCompleted(d: Record<string, unknown>): d is StepCompleted {
  return isId(d['workflow']) && isId(d['runId']) && isId(d['step']) && isCount(d['attempt'], 1) &&
    (d['item'] === undefined || isCount(d['item'], 0)) && (d['items'] === undefined || isCount(d['items'], 0)) &&
    (d['placement'] === undefined || typeof d['placement'] === 'string');
}

/** True when `d` satisfies StepFailedSchema. */
export function isStepFailed(d: Record<string, unknown>): d is StepFailed {
  const err = d['error'] as Record<string, unknown> | null | undefined;
  return isId(d['workflow']) && isId(d['runId']) && isId(d['step']) && isCount(d['attempt'], 1) &&
    (d['item'] === undefined || isCount(d['item'], 0)) && typeof d['retrying'] === 'boolean' &&
    (d['placement'] === undefined || typeof d['placement'] === 'string') &&
    typeof err === 'object' && err !== null && typeof err['type'] === 'string' && typeof err['message'] === 'string';
}

/** True when `d` satisfies StepSkippedSchema. */
export function isStepSkipped(d: Record<string, unknown>): d is StepSkipped {
  return isId(d['workflow']) && isId(d['runId']) && isId(d['step']) && d['item'] === undefined && typeof d['reason'] === 'string';
}

/** The fields that identify one execution in step events: workflow, run, step, attempt, item (and placement). */
export function stepRef(
  task: { workflow: string; runId: string; step: string; attempt: number; item?: number | undefined; placement?: string | undefined },
  extra?: Record<string, unknown>,
): Record<string, unknown> {
  // Assignments rather than spreads: this runs twice per task (Step Started, Step Completed).
  const ref: Record<string, unknown> = { workflow: task.workflow, runId: task.runId, step: task.step, attempt: task.attempt };
  if (task.item !== undefined) ref['item'] = task.item;
  if (task.placement !== undefined) ref['placement'] = task.placement;
  if (extra !== undefined) for (const k in extra) ref[k] = extra[k];
  return ref;
}

/** {@link stepRef} with one more field (`startedAt`, `output`), without an object to copy it from. */
export function stepRefWith(task: Parameters<typeof stepRef>[0], key: string, value: unknown): Record<string, unknown> {
  const ref = stepRef(task);
  ref[key] = value;
  return ref;
}
