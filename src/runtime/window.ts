/**
 * A forEach with `maxConcurrency: n` runs its items in n lanes: its dispatch sends items 0..n-1,
 * and the result of item i starts item i + n ($window: trigger, one fire per item however often
 * its Step Completed is delivered). At most n items are dispatched and not ended at any time, and
 * no counter is shared between the items: each release is decided by one item's own end, which
 * is what makes it safe under at-least-once delivery. An item that fails for good fails its step
 * (the collect never fires): the items it holds back never start, as Step Functions stops a Map's
 * iterations when one fails. A lane whose item runs long holds its next items back even when
 * another lane is free.
 */
import type { PlanStep, TriggerPlan } from '../model/plan.ts';
import type { RunRecord, Task } from '../ports.ts';
import { laterTask } from './failures.ts';
import type { StoreNow } from './replay.ts';
import { fanOutItems } from './tasks.ts';

/** How many of a forEach's `width` items its dispatch sends. */
export function firstItems(spec: PlanStep, width: number): number {
  const lanes = spec.forEach?.maxConcurrency;
  return lanes === undefined ? width : Math.min(width, lanes);
}

/**
 * The task of the item that starts when item `ended` of forEach step `step` has its result, or
 * undefined when there is none (the list is shorter).
 */
export function releasedTask(store: StoreNow, plan: TriggerPlan, run: RunRecord, step: string, ended: number): Task | undefined {
  const spec = plan.steps[step]!;
  const index = ended + spec.forEach!.maxConcurrency!;
  const fan = fanOutItems(store, run.runId, spec);
  if (!('items' in fan) || index >= fan.items.length) return undefined;
  return laterTask(store, plan, run, step, 1, { index, value: fan.items[index] });
}
