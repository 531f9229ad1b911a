/**
 * What the processor does with a Step Failed besides counting it toward joins: the checks it
 * passes before any trigger fires (a duplicate execution's failure, an item its fan-out does not
 * have), the note of a failure for good, and the task of the attempt after a retrying one.
 */
import type { EventEnvelope, StepFailed } from '../model/events.ts';
import type { TriggerPlan } from '../model/plan.ts';
import type { RunRecord, Task } from '../ports.ts';
import { resultsOf, withCaughtError } from './choice.ts';
import { deadLetter, type Effect } from './effects.ts';
import type { NextAttempt } from './fallback.ts';
import { missingItem } from './items.ts';
import type { StoreNow } from './replay.ts';
import { done, failedKey, fanOutItems, makeTask, stepResults } from './tasks.ts';

/** The list a forEach fans out over, as fanOutItems reads it. */
export type ItemList = { items: unknown[] };

/**
 * Checks `d`, a Step Failed of running run `runId`, before its triggers fire, and notes a failure
 * for good ($failed:, what `status` reads on AWS). The effects that end the event there (none: it
 * is dropped; a dead letter), or, when its triggers fire, the list of the failed item's forEach
 * (undefined for a step's failure): read here once for the event, and given to retryTask, so that
 * on DynamoDB a claim-checked list costs one S3 GET, not two.
 */
export function checkFailure(store: StoreNow, plan: TriggerPlan, runId: string, event: EventEnvelope, d: StepFailed): Effect[] | ItemList | undefined {
  // A failure of an execution whose step already completed (a duplicate run after a crash)
  // must not fail the run: the step has its result.
  if (done(store, runId, d.step, d.item)) return [];
  let list: ItemList | undefined;
  if (d.item !== undefined) {
    // A failure of an item its fan-out does not have (forged or misrouted) would run it again
    // or fail the run; refused before a trigger is used that the item's own failure may need.
    const fan = fanOutItems(store, runId, plan.steps[d.step]!);
    if (!('items' in fan) || d.item >= fan.items.length) return [deadLetter(event, missingItem(event, runId, 'items' in fan ? fan.items.length : undefined))];
    list = fan;
  }
  if (!d.retrying) store.saveResult(runId, failedKey(d.step, d.item), { type: d.error.type, message: d.error.message });
  return list;
}

/**
 * The task of the attempt after `d` (of an item: that item's, its value taken from its forEach's
 * list), run `on` where nextAttempt says. `list`: that list as checkFailure read it for this event,
 * not read again.
 */
export function retryTask(store: StoreNow, plan: TriggerPlan, run: RunRecord, d: StepFailed, on: NextAttempt['on'], list: ItemList | undefined): Task {
  let item: { index: number; value: unknown } | undefined;
  if (d.item !== undefined) {
    const fan = list ?? fanOutItems(store, run.runId, plan.steps[d.step]!);
    item = { index: d.item, value: 'items' in fan ? fan.items[d.item] : null };
  }
  return laterTask(store, plan, run, d.step, d.attempt + 1, item, on);
}

/**
 * A task of a step (or of one item) sent after the step's dispatch, from what the store holds: a
 * retry, or an item a forEach's maxConcurrency held back (window.ts).
 */
export function laterTask(store: StoreNow, plan: TriggerPlan, run: RunRecord, step: string, attempt: number, item: { index: number; value: unknown } | undefined, on: NextAttempt['on'] = 'primary'): Task {
  const spec = plan.steps[step]!;
  const results = stepResults(store, run.runId, resultsOf(plan, spec));
  return withCaughtError(store, run.runId, spec, makeTask(plan, run, step, attempt, results, item, on));
}
