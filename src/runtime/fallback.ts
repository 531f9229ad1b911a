/**
 * Fallback to Batch: an `auto` step placed on Lambda with `fallback: batch` whose attempt times
 * out runs its next attempt as a Batch job instead, and stays there for any further retries.
 * The timeout that moves it does not use up an attempt: such a step runs at most
 * retry.maxAttempts + 1 times. The rules live here; the executor bridges (local engine, AWS
 * Lambda-result bridge) and the trigger processor ask.
 */
import type { StepError, StepFailed } from '../model/events.ts';
import type { PlanStep } from '../model/plan.ts';
import type { Task } from '../ports.ts';

/** The error type of a step that ran out of time, locally and on Lambda. */
export const STEP_TIMEOUT = 'StepTimeout';

/** Whether a failed attempt is followed by another (the `retrying` flag of its Step Failed). */
export function retriesAfter(
  task: Pick<Task, 'attempt' | 'maxAttempts' | 'fallback'>,
  error: StepError,
  retriable: boolean,
): boolean {
  if (task.fallback === 'batch' && error.type === STEP_TIMEOUT) return true;
  return retriable && task.attempt < task.maxAttempts;
}

/** Where the attempt after a failure runs, and whether it waits for the retry backoff. */
export type NextAttempt = { on: 'primary' | 'fallback'; backoff: boolean };

/** The attempt after `failed`, or undefined when the step has used up its attempts. */
export function nextAttempt(step: PlanStep, failed: Pick<StepFailed, 'attempt' | 'error' | 'placement'>): NextAttempt | undefined {
  const fallback = step.fallback;
  const onFallback = fallback !== undefined && failed.placement === fallback.target;
  // Moving off Lambda is no transient failure: the next attempt goes at once.
  if (fallback && !onFallback && failed.error.type === STEP_TIMEOUT) return { on: 'fallback', backoff: false };
  if (failed.attempt >= maxAttempts(step, onFallback)) return undefined;
  return { on: onFallback ? 'fallback' : 'primary', backoff: true };
}

/** Most attempts of a step: one more once it has fallen back (the timeout was free). */
export function maxAttempts(step: PlanStep, onFallback: boolean): number {
  return step.retry.maxAttempts + (onFallback ? 1 : 0);
}
