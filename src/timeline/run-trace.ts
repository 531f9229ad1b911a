/**
 * The executions `joinflow run --trace FILE` writes — a JSON array of `{step, item?, attempt,
 * status, start, end, placement?, initMs?}` (a CLI contract, DESIGN.md, which `initMs` extends)
 * — as a timeline. The array has no
 * step graph: it comes from the plan of the workflow that ran.
 */
import { z } from 'zod';
import type { TriggerPlan } from '../model/plan.ts';
import { sortExecutions, type Execution, type Timeline } from './timeline.ts';

const time = z.number().finite();

/** One record of a run trace, as written. */
export const RunTraceRecordSchema = z.strictObject({
  step: z.string().min(1),
  item: z.number().int().nonnegative().optional(),
  attempt: z.number().int().positive(),
  status: z.enum(['succeeded', 'failed', 'cancelled']),
  start: time,
  end: time,
  placement: z.enum(['lambda', 'batch-cpu', 'batch-gpu']).optional(),
  initMs: z.number().finite().nonnegative().optional(),
});

/** The whole file; a record that ends before it starts is named by its index. */
export const RunTraceSchema = z.array(RunTraceRecordSchema.refine((r) => r.end >= r.start, { message: 'ends before it starts', path: ['end'] }));

/** A run trace record. */
export type RunTraceRecord = z.infer<typeof RunTraceRecordSchema>;

/** True for what looks like a run trace: a non-empty array of records with a step and a start. */
export function looksLikeRunTrace(json: unknown): json is unknown[] {
  return Array.isArray(json) && json.length > 0 && json.every((r) => typeof r === 'object' && r !== null && 'step' in r && 'start' in r);
}

/** The step DAG of a plan: each step with the steps it waits for (a forEach source included). */
export function planNeeds(plan: TriggerPlan): Record<string, string[]> {
  // A forEach step waits for the step whose output it iterates, needed or not.
  return Object.fromEntries(
    Object.entries(plan.steps).map(([id, step]) => [id, step.forEach && !step.needs.includes(step.forEach.step) ? [...step.needs, step.forEach.step] : [...step.needs]]),
  );
}

/**
 * The problems of a run trace's records (undefined: one that is not a record) that do not fit `plan`, at most 10: unknown steps (at the
 * first record of each), items on steps without forEach or missing on steps with one, and a
 * second record of the same execution (step, item and attempt).
 */
export function runTraceProblems(records: ReadonlyArray<RunTraceRecord | undefined>, plan: TriggerPlan): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  const executions = new Map<string, number>();
  records.forEach((r, i) => {
    // A record that is not one (named by the schema's own problems) has nothing to fit.
    if (r === undefined) return;
    // Own properties only: a record naming "constructor" must not find Object.prototype's.
    const step = Object.hasOwn(plan.steps, r.step) ? plan.steps[r.step] : undefined;
    if (!step) {
      if (!seen.has(r.step)) problems.push(`[${i}].step: step "${r.step}" is not a step of workflow "${plan.workflow}"`);
      seen.add(r.step);
      return;
    }
    if ((r.item !== undefined) !== (step.forEach !== undefined)) {
      problems.push(`[${i}].item: step "${r.step}" ${step.forEach ? 'runs once per item (forEach): its records need an item' : 'has no forEach: its records have no item'}`);
    }
    const key = JSON.stringify([r.step, r.item ?? null, r.attempt]);
    const first = executions.get(key);
    if (first === undefined) executions.set(key, i);
    else problems.push(`[${i}]: the same execution as record [${first}] (step "${r.step}"${r.item === undefined ? '' : `, item ${r.item}`}, attempt ${r.attempt}); a run has one record per attempt`);
  });
  return problems;
}

/**
 * The timeline of a run trace. Kinds come from the plan; an attempt placed on Lambda ran as a
 * function, one placed on Batch as a batch job. Time zero is the first execution's start.
 */
export function runTraceTimeline(records: readonly RunTraceRecord[], plan: TriggerPlan, title: string): Timeline {
  const executions: Execution[] = records.map((r) => ({
    step: r.step,
    ...(r.item === undefined ? {} : { item: r.item }),
    attempt: r.attempt,
    kind: r.placement === undefined ? ((Object.hasOwn(plan.steps, r.step) ? plan.steps[r.step]!.executor.type : undefined) ?? 'unknown') : r.placement === 'lambda' ? 'function' : 'batch',
    // Imported WfCommons tasks are numbered instances of a type (mProject_ID0000021): group by type.
    category: r.step.replace(/_ID\d+$/, ''),
    ...(r.placement === undefined ? {} : { placement: r.placement }),
    status: r.status,
    start: r.start,
    end: r.end,
    ...(r.initMs === undefined ? {} : { initMs: r.initMs }),
  }));
  return {
    title,
    workflow: plan.workflow,
    startedAt: executions.reduce((min, e) => Math.min(min, e.start), Infinity),
    needs: planNeeds(plan),
    executions: sortExecutions(executions),
    schedule: 'measured',
    notes: ['a run trace records executions only: the makespan runs from the first start to the last end'],
  };
}
