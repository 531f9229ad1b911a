import { z } from 'zod';

/** `source` of every event joinflow itself emits. */
export const JOINFLOW_SOURCE = 'joinflow';

/** The detail-types of the event model (DESIGN.md, "Events"). */
export const DetailType = {
  RunRequested: 'Run Requested',
  StepStarted: 'Step Started',
  StepCompleted: 'Step Completed',
  StepFailed: 'Step Failed',
  RunSucceeded: 'Run Succeeded',
  RunFailed: 'Run Failed',
  RunCancelled: 'Run Cancelled',
} as const;
export type DetailType = (typeof DetailType)[keyof typeof DetailType];

/** The EventBridge envelope, used locally too. */
export type EventEnvelope<D = Record<string, unknown>> = {
  id: string;
  source: string;
  'detail-type': string;
  time: string;
  detail: D;
};

export const EnvelopeSchema = z.object({
  id: z.string().min(1),
  source: z.string().min(1),
  'detail-type': z.string().min(1),
  time: z.string(),
  detail: z.record(z.string(), z.unknown()),
});

/** A step error as carried by events. */
export type StepError = { type: string; message: string };
export const StepErrorSchema = z.object({ type: z.string(), message: z.string() });

export const RunRequestedSchema = z.object({
  workflow: z.string().min(1),
  runId: z.string().min(1).max(128).regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits, "_", ".", ":" or "-" only').optional(),
  input: z.unknown().optional(),
});

const stepRef = {
  workflow: z.string().min(1),
  runId: z.string().min(1),
  step: z.string().min(1),
  attempt: z.number().int().min(1),
  item: z.number().int().nonnegative().optional(),
};

export const StepCompletedSchema = z.object({
  ...stepRef,
  output: z.unknown().optional(),
  /** Set on the aggregate completion of a forEach step: how many items it joined. */
  items: z.number().int().nonnegative().optional(),
});

export const StepFailedSchema = z.object({
  ...stepRef,
  error: StepErrorSchema,
  retrying: z.boolean(),
});

export type RunRequested = z.infer<typeof RunRequestedSchema>;
export type StepCompleted = z.infer<typeof StepCompletedSchema>;
export type StepFailed = z.infer<typeof StepFailedSchema>;
