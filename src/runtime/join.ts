/**
 * The join algorithm (DESIGN.md, "Triggers and joins"), the same over every TriggerStore:
 *
 * 1. An arrival is identified by (runId, trigger, arrivalKey) — the predecessor / item / attempt,
 *    never the event id, because a retried or redelivered step may carry a new event id.
 * 2. The store records an arrival only once; a duplicate is read back and re-checked, which is
 *    what lets a redelivered event finish a fire that a crashed processor had claimed.
 * 3. When count >= need, one conditional claim decides the single firing processor; a claim
 *    that was never acknowledged within the lease is taken over (dispatch at-least-once,
 *    counting exactly-once).
 */
import type { ArrivalKey, Trigger } from '../model/plan.ts';
import type { ClaimResult, JoinState } from '../ports.ts';
import type { StoreNow } from './replay.ts';

/**
 * How long a claimed-but-unacknowledged fire is left to its claimer before being redone. A host
 * whose processor may run longer than this with a claim passes its own (ProcessorDeps.leaseMs).
 */
export const DEFAULT_LEASE_MS = 30_000;

/** Detail fields an arrival key is taken from. */
export type ArrivalFields = { step?: unknown; item?: unknown; attempt?: unknown };

/** The string that identifies an arrival for a trigger's condition. */
export function arrivalKey(key: ArrivalKey, detail: ArrivalFields): string {
  switch (key) {
    case 'run':
      return 'run';
    case 'step':
      return String(detail.step);
    case 'item':
      return String(detail.item);
    case 'attempt':
      return `${String(detail.step)}#${detail.item === undefined ? '' : String(detail.item)}#${String(detail.attempt)}`;
  }
}

/**
 * The id under which a trigger's counter is stored. `always` triggers fire once per distinct
 * key, so each key gets its own one-shot counter.
 */
export function instanceId(trigger: Trigger, key: string): string {
  return trigger.condition.type === 'always' ? `${trigger.id}#${key}` : trigger.id;
}

/**
 * The arrival's position in the join's key set, when the set is known: the index of the
 * predecessor in the activation pattern's step list, the item number, or 0 for a run start (and
 * for an item of an `always` trigger, alone on its counter).
 */
export function arrivalOrdinal(trigger: Trigger, detail: ArrivalFields, stepIndex: ReadonlyMap<string, number> | undefined): number | undefined {
  switch (trigger.condition.key) {
    case 'run':
      return 0;
    case 'step':
      return stepIndex?.get(String(detail.step));
    case 'item':
      // An `always` trigger keyed by item ($window:) has a one-shot counter per item, whose one
      // arrival is its first: the item number would place it past a need of 1 (on DynamoDB, in
      // the shards of a wide join from shardThreshold on, where it never counts).
      if (trigger.condition.type === 'always') return 0;
      return typeof detail.item === 'number' ? detail.item : undefined;
    case 'attempt':
      return undefined;
  }
}

/** Position of each predecessor in a step-keyed trigger's activation list (its arrival ordinals). */
export function stepIndex(trigger: Trigger): ReadonlyMap<string, number> | undefined {
  if (trigger.condition.key !== 'step') return undefined;
  const steps = (trigger.activation['detail'] as { step?: unknown } | undefined)?.step;
  // Exact step names only ($fail's pattern may list the steps it does not hear, with anything-but).
  if (!Array.isArray(steps) || !steps.every((s) => typeof s === 'string')) return undefined;
  return new Map(steps.map((s: string, i) => [s, i]));
}

/**
 * Whether a trigger's join is sized at run time (a forEach's collect): its keys are the ordinals
 * 0..need-1, so the processor gives every store the ordinal, and an item beyond them is refused.
 */
export function sizedJoin(trigger: Trigger): boolean {
  return trigger.condition.type === 'join' && trigger.condition.need === 'dynamic';
}

/**
 * Records one arrival; returns true when this caller must carry out the trigger's action, and the
 * store's answer when it refused the arrival (an ordinal beyond the need of a join sized at run
 * time: an item past its forEach's width), which counts for nothing.
 */
export function arrive(
  store: StoreNow,
  runId: string,
  trigger: Trigger,
  key: string,
  ordinal: number | undefined,
  now: number,
  leaseMs = DEFAULT_LEASE_MS,
): Fires | false | (JoinState & { refused: true }) {
  const c = trigger.condition;
  const need = c.type === 'always' ? 1 : c.need === 'dynamic' ? undefined : c.need;
  const id = instanceId(trigger, key);
  const state = store.arrive(runId, id, key, need, ordinal);
  if (state.refused) return { ...state, refused: true };
  // Most arrivals do not complete their join: nothing more to ask the store.
  if (state.need === undefined || state.count < state.need) return false;
  return fires(store.claim(runId, id, now, leaseMs));
}

/** Sets a dynamic need (fan-out width); true when the join is already complete and ours to fire. */
export function setNeed(store: StoreNow, runId: string, triggerId: string, need: number, now: number, leaseMs = DEFAULT_LEASE_MS): Fires | false {
  const state = store.setNeed(runId, triggerId, need);
  // Need unknown (fan-out not sized yet): the arrival is kept and counted when the need arrives.
  if (state.need === undefined || state.count < state.need) return false;
  return fires(store.claim(runId, triggerId, now, leaseMs));
}

/**
 * Who fires a complete join: 'won', the first claimer; 'reclaimed', a caller taking over a fire
 * whose claimer never acknowledged it within the lease (it may have dispatched some of its work,
 * or all of it, before it died).
 */
export type Fires = 'won' | 'reclaimed';

function fires(claim: ClaimResult): Fires | false {
  return claim === 'taken' ? false : claim;
}
