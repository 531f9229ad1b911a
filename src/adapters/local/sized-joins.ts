/**
 * How the local stores keep a join sized at run time (a forEach's collect) to its ordinals
 * 0..need-1 (ports.ts, TriggerStore.arrive): once the need is known, an arrival beyond it is
 * refused; before, its ordinal is noted (`early`), and when the need comes, those beyond it are
 * its `excess`, which the join's count leaves out. The notes are kept in memory only (the state
 * dir's formats have no room for them): a join reloaded after a restart has lost them, so an early
 * arrival beyond the need that was recorded before the restart counts again. Only an event from
 * outside the engine can be one; the DynamoDB store keeps its notes in the table.
 */
import type { JoinState } from '../../ports.ts';

/** The part of a join these rules read and write. */
export type SizedJoin = { need: number | undefined; early?: number[] | undefined; excess?: number | undefined };

/**
 * The refusal of an arrival beyond the need of a sized join (an arrival that gives no need of its
 * own, with an ordinal), or undefined when it may be recorded. `count`: the join's arrivals.
 */
export function refusal(j: SizedJoin, count: number, need: number | undefined, ordinal: number | undefined): JoinState | undefined {
  if (need !== undefined || ordinal === undefined || j.need === undefined || ordinal < j.need) return undefined;
  return { fresh: false, count: count - (j.excess ?? 0), need: j.need, refused: true };
}

/** Notes the ordinal of a fresh arrival of a sized join whose need is not known yet. */
export function noteEarly(j: SizedJoin, need: number | undefined, ordinal: number | undefined): void {
  if (need === undefined && ordinal !== undefined && j.need === undefined) (j.early ??= []).push(ordinal);
}

/** Stores the need `setNeed` brings: the early arrivals beyond it are the join's excess. */
export function sizeJoin(j: SizedJoin, need: number): void {
  j.need = need;
  if (j.early === undefined) return;
  j.excess = j.early.filter((o) => o >= need).length;
  j.early = undefined;
}
