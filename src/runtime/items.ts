/**
 * What the processor checks of a step event's `item` against its step: only forEach steps have
 * items, and an item must be one of its fan-out's (an event naming another is a duplicated,
 * forged or misrouted one, and is dead-lettered with the reason these give).
 */
import { DetailType, type EventEnvelope, type StepCompleted, type StepFailed } from '../model/events.ts';
import type { PlanStep } from '../model/plan.ts';

/**
 * Why a step event's `item` does not fit its step, if it does not: only forEach steps have items,
 * and they retry item by item (a retrying failure without an item would run the whole step).
 */
export function itemMismatch(step: PlanStep, detail: StepCompleted | StepFailed, type: string): string | undefined {
  if (detail.item !== undefined && !step.forEach) return `step "${detail.step}" has no forEach, so its events carry no item`;
  if (step.forEach && detail.item === undefined && type === DetailType.StepFailed && (detail as StepFailed).retrying) {
    return `step "${detail.step}" runs once per item (forEach): a retrying failure must name its item`;
  }
  return undefined;
}

/**
 * Why a step event of run `runId` names no item of its forEach step, whose fan-out has `width`
 * items (undefined: it has not happened yet).
 */
export function missingItem(event: EventEnvelope, runId: string, width: number | undefined): string {
  const { step, item } = event.detail as { step?: unknown; item?: unknown };
  const has = width === undefined ? 'has not fanned out' : `has ${width} items (its forEach's width)`;
  return `invalid ${event['detail-type']} detail: item: step "${String(step)}" of run "${runId}" ${has}, so there is no item ${String(item)}`;
}
