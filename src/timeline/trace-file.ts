/**
 * The joinflow timeline trace: a run's executions and step DAG as one JSON document, written by
 * `joinflow timeline <runId> -o trace.json` (or `--json`) and read back to render it elsewhere.
 * zod checks it here, at the edge; the rest of the module works on plain types.
 */
import { z } from 'zod';
import { findCycle, topoOrder } from '../compiler/graph.ts';
import { JoinflowError, WorkflowDefinitionError } from '../model/errors.ts';
import type { TriggerPlan } from '../model/plan.ts';
import { looksLikeRunTrace, runTraceProblems, runTraceTimeline, RunTraceSchema } from './run-trace.ts';
import { looksLikeWfCommons, wfcommonsTimeline } from './wfcommons-timeline.ts';
import { sortExecutions, summarizeTimeline, type Timeline, type TimelineSummary } from './timeline.ts';

/** The `format` value that marks a joinflow timeline trace. */
export const TRACE_FORMAT = 'joinflow-timeline';

/** A trace file that cannot be read as a timeline; the message names the file and the problem. */
export class TimelineInputError extends JoinflowError {
  constructor(message: string) {
    super('TIMELINE_INPUT', message);
  }
}

/** Milliseconds within JavaScript's date range (epoch or relative). */
const DATE_RANGE = "must be milliseconds within JavaScript's date range (at most 8.64e15 from 0)";
const time = z.number().finite().min(-8.64e15, DATE_RANGE).max(8.64e15, DATE_RANGE);

const ExecutionSchema = z.strictObject({
  step: z.string().min(1),
  item: z.number().int().nonnegative().optional(),
  attempt: z.number().int().positive(),
  kind: z.string().min(1),
  category: z.string().min(1).optional(),
  placement: z.string().min(1).optional(),
  status: z.enum(['succeeded', 'failed', 'cancelled', 'running']),
  start: time,
  end: time,
});

/** The document; `summary` is written for readers and recomputed, never trusted, on reading. */
export const TimelineTraceSchema = z.strictObject({
  format: z.literal(TRACE_FORMAT),
  version: z.literal(1),
  title: z.string(),
  workflow: z.string(),
  runId: z.string().optional(),
  status: z.string().optional(),
  startedAt: time,
  finishedAt: time.optional(),
  schedule: z.enum(['measured', 'ideal']),
  notes: z.array(z.string()).default([]),
  needs: z.record(z.string(), z.array(z.string())),
  executions: z.array(ExecutionSchema.refine((e) => e.end >= e.start, { message: 'ends before it starts', path: ['end'] })),
  summary: z.unknown().optional(),
}).superRefine((d, ctx) => {
  // What no run can produce: numbers drawn from it would not mean anything.
  const seen = new Map<string, number>();
  d.executions.forEach((e, i) => {
    if (e.start < d.startedAt) ctx.addIssue({ code: 'custom', path: ['executions', i, 'start'], message: `starts before the run's startedAt (${d.startedAt})` });
    const key = `${e.step}\0${e.item ?? ''}\0${e.attempt}`;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else ctx.addIssue({ code: 'custom', path: ['executions', i], message: `the same execution (step, item, attempt) as executions.${first}` });
  });
  if (d.finishedAt !== undefined && d.finishedAt < d.startedAt) ctx.addIssue({ code: 'custom', path: ['finishedAt'], message: 'is before startedAt' });
  const needs = new Map(Object.entries(d.needs));
  const { cyclic } = topoOrder(needs);
  if (cyclic.length > 0) ctx.addIssue({ code: 'custom', path: ['needs'], message: `steps wait for each other in a cycle: ${findCycle(needs, cyclic).join(' -> ')}` });
});

/** What the document looks like as written. */
export type TimelineTrace = z.infer<typeof TimelineTraceSchema>;

/** The trace document of a timeline, with its summary. */
export function toTrace(t: Timeline, summary: TimelineSummary = summarizeTimeline(t)): TimelineTrace {
  return {
    format: TRACE_FORMAT,
    version: 1,
    title: t.title,
    workflow: t.workflow,
    ...(t.runId === undefined ? {} : { runId: t.runId }),
    ...(t.status === undefined ? {} : { status: t.status }),
    startedAt: t.startedAt,
    ...(t.finishedAt === undefined ? {} : { finishedAt: t.finishedAt }),
    schedule: t.schedule,
    notes: t.notes,
    needs: t.needs,
    executions: t.executions,
    summary: {
      makespanMs: summary.makespanMs,
      criticalPathMs: summary.criticalPathMs,
      overheadMs: summary.overheadMs,
      criticalPath: summary.criticalPath.map((i) => {
        const e = t.executions[i]!;
        return { step: e.step, ...(e.item === undefined ? {} : { item: e.item }), attempt: e.attempt };
      }),
    },
  };
}

/**
 * Reads parsed JSON as a timeline: a joinflow timeline trace or a WfCommons trace. `file` names
 * the source in errors; `title` heads the chart of a WfCommons trace (which has none of its own).
 */
export function timelineFromJson(json: unknown, file: string, title = file): Timeline {
  if (typeof json === 'object' && json !== null && (json as { format?: unknown }).format === TRACE_FORMAT) {
    const parsed = TimelineTraceSchema.safeParse(json);
    if (!parsed.success) {
      const lines = parsed.error.issues.slice(0, 10).map((i) => `  - ${i.path.join('.') || '(top)'}: ${i.message}`);
      const more = parsed.error.issues.length > 10 ? `\n  ... and ${parsed.error.issues.length - 10} more` : '';
      throw new TimelineInputError(`${file}: invalid joinflow timeline trace:\n${lines.join('\n')}${more}`);
    }
    const d = parsed.data;
    return {
      title: d.title,
      workflow: d.workflow,
      ...(d.runId === undefined ? {} : { runId: d.runId }),
      ...(d.status === undefined ? {} : { status: d.status }),
      startedAt: d.startedAt,
      ...(d.finishedAt === undefined ? {} : { finishedAt: d.finishedAt }),
      needs: d.needs,
      executions: sortExecutions(d.executions.map(({ category, ...e }) => ({ ...e, category: category ?? e.step }))),
      schedule: d.schedule,
      notes: d.notes,
    };
  }
  if (looksLikeWfCommons(json)) {
    try {
      return wfcommonsTimeline(json, title);
    } catch (error) {
      if (!(error instanceof WorkflowDefinitionError)) throw error;
      const lines = error.problems.slice(0, 10).map((p) => `  - ${p.path ? `${p.path}: ` : ''}${p.message}`);
      const more = error.problems.length > 10 ? `\n  ... and ${error.problems.length - 10} more` : '';
      throw new TimelineInputError(`${file}: invalid WfCommons trace:\n${lines.join('\n')}${more}`);
    }
  }
  if (looksLikeRunTrace(json)) {
    throw new TimelineInputError(
      `${file}: a 'joinflow run --trace' file has no step graph: name the workflow that ran with --workflow (joinflow timeline ${file} --workflow <file or name>), or chart a run of a state dir by its id`,
    );
  }
  throw new TimelineInputError(`${file}: neither a WfCommons trace (no "workflow" object with tasks) nor a joinflow timeline trace (no "format": "${TRACE_FORMAT}")`);
}

/**
 * Reads parsed JSON that `joinflow run --trace` wrote as the timeline of a run of `plan` (the
 * file has no step graph of its own). Errors name the file and each invalid record's path.
 */
export function timelineFromRunTrace(json: unknown, file: string, plan: TriggerPlan, title = file): Timeline {
  if (Array.isArray(json) && json.length === 0) throw new TimelineInputError(`${file}: the run trace has no executions: nothing to chart`);
  if (!looksLikeRunTrace(json)) {
    throw new TimelineInputError(`${file}: --workflow goes with a 'joinflow run --trace' file (a JSON array of executions); this is not one`);
  }
  const parsed = RunTraceSchema.safeParse(json);
  // Every problem at once, in record order: the records' own, and how the valid ones fit the plan.
  const shapes = parsed.success
    ? []
    : parsed.error.issues.map((i) => `${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') || '(top)'}: ${i.message}`);
  const valid = parsed.success ? parsed.data : (json as unknown[]).map((r) => {
    const one = RunTraceSchema.element.safeParse(r);
    return one.success ? one.data : undefined;
  });
  const at = (p: string) => Number(/^\[(\d+)\]/.exec(p)?.[1] ?? -1);
  const problems = [...shapes, ...runTraceProblems(valid, plan)].sort((a, b) => at(a) - at(b));
  if (!parsed.success || problems.length > 0) {
    const more = problems.length > 10 ? `\n  ... and ${problems.length - 10} more` : '';
    throw new TimelineInputError(`${file}: invalid 'joinflow run --trace' file for workflow "${plan.workflow}":\n${problems.slice(0, 10).map((p) => `  - ${p}`).join('\n')}${more}`);
  }
  return runTraceTimeline(parsed.data, plan, title);
}
