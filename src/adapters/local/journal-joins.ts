/** The joins of a run in the journal store's memory (journal-core.ts): counters of arrival keys. */
import type { LiveRun } from './journal-core.ts';

/** A join counter: the first arrival key in a field, a Set only from the second on. */
export type Join = { first: string | undefined; more: Set<string> | undefined; need: number | undefined; early?: number[]; excess?: number; claimedAt: number | undefined; dispatchedAt: number | undefined };

/** How many keys a join has. */
export const arrivals = (j: Join): number => (j.first === undefined ? 0 : 1 + (j.more?.size ?? 0));

/** The run's join of `trigger`, made empty when it has none. */
export function joinOf(run: LiveRun, trigger: string): Join {
  let j = run.joins.get(trigger);
  if (!j) run.joins.set(trigger, (j = { first: undefined, more: undefined, need: undefined, claimedAt: undefined, dispatchedAt: undefined }));
  return j;
}

/** Adds an arrival; true when the key is new. */
export function addArrival(j: Join, key: string): boolean {
  if (j.first === undefined) {
    j.first = key;
    return true;
  }
  if (j.first === key) return false;
  j.more ??= new Set();
  if (j.more.has(key)) return false;
  j.more.add(key);
  return true;
}
