/**
 * How long the stage's table keeps a run's items: the `expiresAt` (epoch seconds) that DynamoDB's
 * TTL deletes them after (README: "How long the table keeps a run").
 *
 * - A finished run's record (`META`) expires `ttlDays` after the run ended; a running run's has none.
 * - Every working item of a run — join, shard and marker items, results, Batch job notes — gets its
 *   expiry once, at its first write (no rewrite per arrival): `ttlDays` plus the longest the run
 *   can still wait by its plan (runtime/waits.ts: start delays, retry backoffs, attempts up to
 *   their time-out), computed once per plan. A run that waits a year on a `delayMs` therefore
 *   still finds its counters and results when it resumes. `ttlDays` stays the allowance for what
 *   the plan does not bound (untimed attempts, queueing), as it was before plans were counted.
 */
import type { TriggerPlan } from '../../model/plan.ts';
import { runWaitMs } from '../../runtime/waits.ts';
import { expiryFromNow } from './dynamodb-keys.ts';

/** Days a finished run is kept, and the least a working item is kept from its first write. */
export const DEFAULT_TTL_DAYS = 30;

/** The expiries of a stage's items. */
export type Retention = {
  /**
   * When a working item of a run of `workflow` written now expires (epoch seconds). A workflow
   * the retention has no plan of (or none given) gets the longest wait of all its plans.
   */
  working(workflow: string | undefined): number;
  /** When the record of a run that finishes now expires (epoch seconds). */
  finished(): number;
};

/** The retention of a stage whose runs follow `plans`. */
export function createRetention(options: { ttlDays?: number | undefined; plans?: readonly TriggerPlan[] | undefined } = {}): Retention {
  const ttlDays = options.ttlDays ?? DEFAULT_TTL_DAYS;
  const waits = new Map<string, number>();
  for (const plan of options.plans ?? []) waits.set(plan.workflow, runWaitMs(plan));
  const longest = Math.max(0, ...waits.values());
  return {
    working: (workflow) => expiryFromNow(ttlDays + (waits.get(workflow ?? '') ?? longest) / 86_400_000),
    finished: () => expiryFromNow(ttlDays),
  };
}
