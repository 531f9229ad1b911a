/** A run's counts and trace records from its logged attempts (the engine's RunTracker uses them). */
import type { RunRecord } from '../../ports.ts';
import type { TaskAttempt } from './durable-log.ts';
import type { TraceRecord } from './lanes.ts';
import type { RunResult } from './run-tracker.ts';

/** A unit of work's key: a step, or an item of a forEach step. */
export const unitKey = (t: { step: string; item?: number }) => (t.item === undefined ? t.step : `${t.step}#${t.item}`);

/** A logged attempt as a trace record (attempts that never started have none). */
export function traceRecord(e: TaskAttempt): TraceRecord[] {
  if (e.startedAt === undefined || e.finishedAt === undefined) return [];
  const status = e.status === 'succeeded' || e.status === 'failed' || e.status === 'cancelled' ? e.status : 'cancelled';
  return [{
    step: e.step,
    ...(e.item === undefined ? {} : { item: e.item }),
    attempt: e.attempt,
    status,
    start: e.startedAt,
    end: e.finishedAt,
    ...(e.placement === undefined ? {} : { placement: e.placement }),
  }];
}

/**
 * Units of work and their outcomes from the log: a unit succeeded if any attempt did. The step
 * that failed the run counts as a failed unit even when it had no attempt (see {@link withFailingStep}).
 */
export function countUnits(entries: readonly TaskAttempt[], record: RunRecord): RunResult['steps'] {
  // Per unit: whether an attempt succeeded, its latest attempt's status, and its attempts that started.
  const units = new Map<string, { succeeded: boolean; attempt: number; status: string; started: number }>();
  for (const e of entries) {
    if (e.status === 'skipped') continue; // a step a choice skipped: not a unit of work
    const k = unitKey(e);
    const started = e.startedAt === undefined ? 0 : 1;
    const unit = units.get(k);
    if (!unit) units.set(k, { succeeded: e.status === 'succeeded', attempt: e.attempt, status: e.status, started });
    else {
      unit.started += started;
      if (e.status === 'succeeded') unit.succeeded = true;
      if (e.attempt >= unit.attempt) {
        unit.attempt = e.attempt;
        unit.status = e.status;
      }
    }
  }
  let succeeded = 0;
  let failed = 0;
  let retried = 0;
  for (const unit of units.values()) {
    retried += Math.max(0, unit.started - 1);
    if (unit.succeeded) succeeded++;
    else if (unit.status === 'failed') failed++;
  }
  // The rest ended with the run: cancelled while running, or before they started.
  return withFailingStep({ total: units.size, succeeded, failed, cancelled: units.size - succeeded - failed, retried }, record, units.keys());
}

/** `skipped` joins the counts of a run with choices (or that skipped steps). */
export function withSkipped(steps: RunResult['steps'], skipped: number, choices: boolean): RunResult['steps'] {
  return choices || skipped > 0 ? { ...steps, skipped } : steps;
}

/**
 * A step can fail the run without any attempt of its own (a forEach over something that is not
 * an array fails at dispatch): it still counts as a failed unit.
 */
export function withFailingStep(steps: RunResult['steps'], record: RunRecord, units: Iterable<string>): RunResult['steps'] {
  const step = record.status === 'failed' ? record.error?.step : undefined;
  if (step === undefined) return steps;
  for (const k of units) if (k === step || k.startsWith(`${step}#`)) return steps;
  return { ...steps, total: steps.total + 1, failed: steps.failed + 1 };
}
