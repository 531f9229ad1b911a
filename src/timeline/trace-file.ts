/**
 * The joinflow timeline trace: a run's executions and step DAG as one JSON document, written by
 * `joinflow timeline <runId> -o trace.json` (or `--json`) and read back to render it elsewhere.
 * zod checks it here, at the edge; the rest of the module works on plain types.
 */
import { z } from 'zod';
import { findCycle, topoOrder } from '../compiler/graph.ts';
import { JoinflowError, WorkflowDefinitionError, type Problem } from '../model/errors.ts';
import type { TriggerPlan } from '../model/plan.ts';
import { looksLikeRunTrace, runTraceProblems, runTraceTimeline, RunTraceSchema } from './run-trace.ts';
import { looksLikeWfCommons, wfcommonsTimeline } from './wfcommons-timeline.ts';
import { sortExecutions, summarizeTimeline, type Timeline, type TimelineSummary } from './timeline.ts';
import { countProblems, issueProblems, listProblems } from './trace-problems.ts';

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

/** The document's shape; `summary` is written for readers and recomputed, never trusted, on reading. */
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
  lanes: z.record(z.string(), z.number().int().positive()).optional(),
  executions: z.array(ExecutionSchema),
  summary: z.unknown().optional(),
});

/**
 * Every problem of a timeline trace with its path: what the schema refuses, and what no run can
 * produce (numbers drawn from it would not mean anything), checked on the fields that are valid
 * whatever else is wrong: an execution that ends before it starts or starts before the run, the
 * same execution (step, item, attempt) twice, a run that finishes before it starts, needs in a cycle.
 */
export function timelineTraceProblems(json: object): Problem[] {
  const parsed = TimelineTraceSchema.safeParse(json);
  const { problems, valid } = issueProblems(parsed.success ? [] : parsed.error.issues, json);
  const d = json as Record<string, unknown>;
  const startedAt = valid('startedAt') ? (d['startedAt'] as number) : undefined;
  const seen = new Map<string, number>();
  const executions = Array.isArray(d['executions']) ? (d['executions'] as unknown[]) : [];
  executions.forEach((raw, i) => {
    if (typeof raw !== 'object' || raw === null) return;
    const e = raw as Record<string, unknown>;
    const ok = (key: string) => valid('executions', i, key);
    const at = `executions[${i}]`;
    if (ok('start') && ok('end') && (e['end'] as number) < (e['start'] as number)) problems.push({ path: `${at}.end`, message: 'ends before it starts' });
    if (ok('start') && startedAt !== undefined && (e['start'] as number) < startedAt) problems.push({ path: `${at}.start`, message: `starts before the run's startedAt (${startedAt})` });
    if (!ok('step') || !ok('item') || !ok('attempt')) return;
    const key = JSON.stringify([e['step'], e['item'] ?? null, e['attempt']]);
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else problems.push({ path: at, message: `the same execution (step, item, attempt) as executions[${first}]` });
  });
  if (startedAt !== undefined && d['finishedAt'] !== undefined && valid('finishedAt') && (d['finishedAt'] as number) < startedAt) problems.push({ path: 'finishedAt', message: 'is before startedAt' });
  if (valid('needs')) {
    const needs = new Map(Object.entries(d['needs'] as Record<string, string[]>));
    const { cyclic } = topoOrder(needs);
    if (cyclic.length > 0) problems.push({ path: 'needs', message: `steps wait for each other in a cycle: ${findCycle(needs, cyclic).join(' -> ')}` });
  }
  // In document order: an execution's problems together, by index.
  const rank = (p: Problem) => Number(/^executions\[(\d+)\]/.exec(p.path)?.[1] ?? -1);
  return problems.map((p, n) => ({ p, n })).sort((a, b) => rank(a.p) - rank(b.p) || a.n - b.n).map(({ p }) => p);
}

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
    ...(t.lanes === undefined ? {} : { lanes: t.lanes }),
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
    const problems = timelineTraceProblems(json);
    if (problems.length > 0) throw new TimelineInputError(`${file}: invalid joinflow timeline trace (${countProblems(problems)}):\n${listProblems(problems)}`);
    const d = TimelineTraceSchema.parse(json);
    return {
      title: d.title,
      workflow: d.workflow,
      ...(d.runId === undefined ? {} : { runId: d.runId }),
      ...(d.status === undefined ? {} : { status: d.status }),
      startedAt: d.startedAt,
      ...(d.finishedAt === undefined ? {} : { finishedAt: d.finishedAt }),
      needs: d.needs,
      ...(d.lanes === undefined ? {} : { lanes: d.lanes }),
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
      throw new TimelineInputError(`${file}: invalid WfCommons trace (${countProblems(error.problems)}):\n${listProblems(error.problems)}`);
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
 * file has no step graph of its own). Errors name the file and every problem of each invalid
 * record with its path.
 */
export function timelineFromRunTrace(json: unknown, file: string, plan: TriggerPlan, title = file): Timeline {
  if (Array.isArray(json) && json.length === 0) throw new TimelineInputError(`${file}: the run trace has no executions: nothing to chart`);
  if (!looksLikeRunTrace(json)) {
    throw new TimelineInputError(`${file}: --workflow goes with a 'joinflow run --trace' file (a JSON array of executions); this is not one`);
  }
  // Every problem at once, in record order: the records' own, and how the valid fields fit the plan.
  const problems = runTraceProblems(json, plan);
  if (problems.length > 0) {
    throw new TimelineInputError(`${file}: invalid 'joinflow run --trace' file for workflow "${plan.workflow}" (${countProblems(problems)}):\n${listProblems(problems)}`);
  }
  return runTraceTimeline(RunTraceSchema.parse(json), plan, title);
}
