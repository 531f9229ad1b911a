/**
 * The executions `joinflow run --trace FILE` writes — a JSON array of `{step, item?, attempt,
 * status, start, end, placement?, initMs?}` (a CLI contract, DESIGN.md, which `initMs` extends)
 * — as a timeline. The array has no
 * step graph: it comes from the plan of the workflow that ran.
 */
import { z } from 'zod';
import type { Problem } from '../model/errors.ts';
import type { TriggerPlan } from '../model/plan.ts';
import { sortExecutions, type Execution, type Timeline } from './timeline.ts';
import { issueProblems } from './trace-problems.ts';

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

/** The whole file's shape; runTraceProblems says what else is wrong with it. */
export const RunTraceSchema = z.array(RunTraceRecordSchema);

/** A run trace record. */
export type RunTraceRecord = z.infer<typeof RunTraceRecordSchema>;

/** True for what looks like a run trace: a non-empty array with a record that has a step and a start. */
export function looksLikeRunTrace(json: unknown): json is unknown[] {
  // One record that is not (a field left out, a stray value) is named by runTraceProblems, not a reason to call the file something else.
  return Array.isArray(json) && json.length > 0 && json.some((r) => typeof r === 'object' && r !== null && 'step' in r && 'start' in r);
}

/** The step DAG of a plan: each step with the steps it waits for (a forEach source included). */
export function planNeeds(plan: TriggerPlan): Record<string, string[]> {
  // A forEach step waits for the step whose output it iterates, needed or not.
  return Object.fromEntries(
    Object.entries(plan.steps).map(([id, step]) => [id, step.forEach && !step.needs.includes(step.forEach.step) ? [...step.needs, step.forEach.step] : [...step.needs]]),
  );
}

/** A timeline's `lanes` from a plan: its forEach steps that run at most n items at once, with n (none: no field). */
export function planLanes(plan: TriggerPlan): Pick<Timeline, 'lanes'> {
  const lanes = Object.entries(plan.steps).flatMap(([id, s]) => (s.forEach?.maxConcurrency === undefined ? [] : [[id, s.forEach.maxConcurrency] as const]));
  return lanes.length === 0 ? {} : { lanes: Object.fromEntries(lanes) };
}

/**
 * Every problem of every record of a run trace, in record order, each with its path (`[3].start`):
 * what the schema refuses, an end before the start, and what does not fit `plan`: a step the
 * workflow does not have (at the first record of each), an item on a step without forEach or none
 * on one with it, a second record of the same execution (step, item and attempt). The fields that
 * are valid are checked whatever else is wrong with their record.
 */
export function runTraceProblems(records: readonly unknown[], plan: TriggerPlan): Problem[] {
  const problems: Problem[] = [];
  const unknownSteps = new Set<string>();
  const executions = new Map<string, number>();
  const parsed = RunTraceSchema.safeParse(records);
  const issues = issueProblems(parsed.success ? [] : parsed.error.issues, records);
  // Each record's problems together: the schema's, then the ones found here.
  const byRecord = new Map<unknown, Problem[]>();
  (parsed.success ? [] : parsed.error.issues).forEach((issue, n) => {
    const list = byRecord.get(issue.path[0]);
    if (list) list.push(issues.problems[n]!);
    else byRecord.set(issue.path[0], [issues.problems[n]!]);
  });
  records.forEach((raw, i) => {
    problems.push(...(byRecord.get(i) ?? []));
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return;
    const r = raw as Partial<Record<keyof RunTraceRecord, unknown>>;
    const valid = (key: keyof RunTraceRecord) => issues.valid(i, key);
    if (valid('start') && valid('end') && (r.end as number) < (r.start as number)) problems.push({ path: `[${i}].end`, message: 'ends before it starts' });
    if (!valid('step')) return;
    const stepId = r.step as string;
    // Own properties only: a record naming "constructor" must not find Object.prototype's.
    const step = Object.hasOwn(plan.steps, stepId) ? plan.steps[stepId] : undefined;
    if (!step) {
      if (!unknownSteps.has(stepId)) problems.push({ path: `[${i}].step`, message: `step "${stepId}" is not a step of workflow "${plan.workflow}"` });
      unknownSteps.add(stepId);
      return;
    }
    if (valid('item') && (r.item !== undefined) !== (step.forEach !== undefined)) {
      problems.push({ path: `[${i}].item`, message: `step "${stepId}" ${step.forEach ? 'runs once per item (forEach): its records need an item' : 'has no forEach: its records have no item'}` });
    }
    if (!valid('item') || !valid('attempt')) return;
    const key = JSON.stringify([stepId, r.item ?? null, r.attempt]);
    const first = executions.get(key);
    if (first === undefined) executions.set(key, i);
    else problems.push({ path: `[${i}]`, message: `the same execution as record [${first}] (step "${stepId}"${r.item === undefined ? '' : `, item ${r.item as number}`}, attempt ${r.attempt as number}); a run has one record per attempt` });
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
    ...planLanes(plan),
    executions: sortExecutions(executions),
    schedule: 'measured',
    notes: ['a run trace records executions only: the makespan runs from the first start to the last end'],
  };
}
