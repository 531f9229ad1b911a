/**
 * How long a run of a plan can spend waiting by its own definition: start delays, retry backoffs
 * and attempts that run until their time-out. Stores that expire a run's working state (the
 * DynamoDB store's TTL) keep it at least this much longer than their usual retention, so that a
 * run that legitimately waits for months still finds its join counters and results.
 */
import { topoOrder } from '../compiler/graph.ts';
import type { PlanStep, TriggerPlan } from '../model/plan.ts';
import { maxAttempts } from './fallback.ts';
import { retryDelay } from './tasks.ts';

/**
 * The longest a step can take by its definition, from ready to its last attempt's end: its
 * `delayMs` (first attempt only), the backoff before every retry, and each attempt on its
 * primary executor up to `timeoutMs` (an attempt that has none, or runs on the Batch fallback,
 * has no bound here: how long it runs is up to the executor).
 */
export function stepWaitMs(step: PlanStep): number {
  const attempts = maxAttempts(step, step.fallback !== undefined);
  let total = step.delayMs ?? 0;
  // Every retry but the move to the fallback (which waits no backoff) is counted: an upper bound.
  for (let attempt = 1; attempt < attempts; attempt++) total += retryDelay(step, attempt);
  return total + (step.timeoutMs ?? 0) * step.retry.maxAttempts;
}

/**
 * The longest a run of `plan` can wait (ms): the longest chain of needs, each step counted with
 * {@link stepWaitMs}. The items of a forEach step wait in parallel, so the step counts once.
 */
export function runWaitMs(plan: TriggerPlan): number {
  const { order } = topoOrder(new Map(Object.entries(plan.steps).map(([id, step]) => [id, step.needs])));
  const until = new Map<string, number>();
  let longest = 0;
  // Needs come first in topological order (a plan is acyclic: the compiler checks it).
  for (const id of order) {
    let before = 0;
    for (const need of plan.steps[id]!.needs) before = Math.max(before, until.get(need) ?? 0);
    const total = before + stepWaitMs(plan.steps[id]!);
    until.set(id, total);
    longest = Math.max(longest, total);
  }
  return longest;
}
