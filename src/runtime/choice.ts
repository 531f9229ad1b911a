/**
 * Whether a step with a choice (`when`), or after one, is skipped rather than run: when its
 * `when` does not match what it would receive, when every step it needs was skipped, or when the
 * step a forEach fans out over was. A need that was skipped has no result (results are saved
 * before any arrival counts, so every need that completed has one when the step's join fires).
 */
import { compilePattern } from '../model/pattern.ts';
import type { EventPattern, PlanStep } from '../model/plan.ts';
import type { RunRecord } from '../ports.ts';
import type { StoreNow } from './replay.ts';

/** Compiled `when` patterns, by the plan's own pattern object. */
const compiled = new WeakMap<EventPattern, (event: unknown) => boolean>();

function matcher(when: EventPattern): (event: unknown) => boolean {
  let test = compiled.get(when);
  if (!test) compiled.set(when, (test = compilePattern(when)));
  return test;
}

/** Why `spec` is skipped in this run, or undefined when it runs. Only for steps with `when` or `needsMaySkip`. */
export function skipReason(store: StoreNow, run: RunRecord, spec: PlanStep): string | undefined {
  const found = spec.needs.length === 0 ? undefined : store.getResults(run.runId, spec.needs);
  if (spec.needsMaySkip && found) {
    if (spec.needs.every((n) => found.get(n) === undefined)) return 'every step it needs was skipped';
    if (spec.forEach && found.get(spec.forEach.step) === undefined) return `the step it fans out over ("${spec.forEach.step}") was skipped`;
  }
  if (spec.when === undefined) return undefined;
  const results: Record<string, unknown> = {};
  if (found) for (const n of spec.needs) if (found.get(n) !== undefined) results[n] = found.get(n);
  return matcher(spec.when)({ input: run.input, results }) ? undefined : 'its "when" did not match';
}
