/**
 * Whether a step with a choice (`when`), or after one, is skipped rather than run: when its
 * `when` does not match what it would receive, when every step it needs was skipped (or failed,
 * caught), or when the step a forEach fans out over was. A need that was skipped has no result
 * (results are saved before any arrival counts, so every need that completed has one when the
 * step's join fires). A catch step runs when the step it catches failed, and is skipped when not.
 */
import { compilePattern } from '../model/pattern.ts';
import type { EventPattern, PlanStep, TriggerPlan } from '../model/plan.ts';
import type { StepEvent } from '../model/workflow.ts';
import type { RunRecord, Task } from '../ports.ts';
import type { StoreNow } from './replay.ts';
import { caughtKey } from './tasks.ts';

/** Compiled `when` patterns, by the plan's own pattern object. */
const compiled = new WeakMap<EventPattern, (event: unknown) => boolean>();

function matcher(when: EventPattern): (event: unknown) => boolean {
  let test = compiled.get(when);
  if (!test) compiled.set(when, (test = compilePattern(when)));
  return test;
}

/**
 * The values of the needs of a step with a `when` (not a catch step), which the `when` matches
 * on: read once for the event, and passed to skipReason and on to the step's event (stepResults,
 * fanOutItems), so that on DynamoDB a claim-checked one costs one S3 GET, not two. Undefined for
 * any other step, whose needs' values are not read to decide whether it runs.
 */
export function whenValues(store: StoreNow, runId: string, spec: PlanStep): Map<string, unknown> | undefined {
  return spec.when === undefined || spec.catches !== undefined || spec.needs.length === 0 ? undefined : store.getResults(runId, spec.needs);
}

/**
 * Why `spec` is skipped in this run, or undefined when it runs. Only for steps with `when` or
 * `needsMaySkip`. `detail` is the event that completed the step's join: for a catch step, the
 * end of the step it catches; when that is its failure, the failure is noted for the catch step.
 * `values` are whenValues' for this step.
 */
export function skipReason(store: StoreNow, plan: TriggerPlan, run: RunRecord, spec: PlanStep, detail: Record<string, unknown>, values: Map<string, unknown> | undefined): string | undefined {
  if (spec.catches !== undefined) {
    const error = detail['step'] === spec.catches ? (detail['error'] as { type: string; message: string } | undefined) : undefined;
    if (error === undefined) return `the step it catches ("${spec.catches}") did not fail`;
    store.saveResult(run.runId, caughtKey(spec.catches), { step: spec.catches, type: error.type, message: error.message });
    return undefined;
  }
  // Without a `when`, only whether the needs have results matters: their values are not read
  // (savedKeys; on DynamoDB a claim-checked one would be an S3 GET, and read again for the task).
  const found = spec.needs.length === 0 ? undefined : spec.when === undefined ? store.savedKeys(run.runId, spec.needs) : values;
  if (spec.needsMaySkip && found) {
    if (spec.needs.every((n) => !found.has(n))) {
      return spec.needs.some((n) => plan.steps[n]?.catch !== undefined) ? 'every step it needs was skipped, or failed and was caught' : 'every step it needs was skipped';
    }
    if (spec.forEach && !found.has(spec.forEach.step)) return `the step it fans out over ("${spec.forEach.step}") was skipped`;
  }
  if (spec.when === undefined) return undefined;
  const results: Record<string, unknown> = {};
  if (found instanceof Map) for (const n of spec.needs) if (found.get(n) !== undefined) results[n] = found.get(n);
  return matcher(spec.when)({ input: run.input, results }) ? undefined : 'its "when" did not match';
}

/**
 * Whose needs' results a step gets: its own; for a catch step, those of the step it catches (and
 * for the catch step of a catch step, those of the first step of the chain).
 */
export function resultsOf(plan: TriggerPlan, spec: PlanStep): PlanStep {
  let s = spec;
  while (s.catches !== undefined) s = plan.steps[s.catches]!;
  return s;
}

/** A catch step's task carries the failure it caught (noted by skipReason) as its event's `error`. */
export function withCaughtError(store: StoreNow, runId: string, spec: PlanStep, task: Task): Task {
  if (spec.catches === undefined) return task;
  const error = store.getResults(runId, [caughtKey(spec.catches)]).get(caughtKey(spec.catches)) as StepEvent['error'];
  if (error !== undefined) task.event.error = error;
  return task;
}

/** Whether a step may end without a result: skipped (a choice), or failed and caught. */
export function mayEndWithoutResult(spec: PlanStep): boolean {
  return spec.when !== undefined || spec.needsMaySkip === true || spec.catch !== undefined || spec.catches !== undefined;
}
