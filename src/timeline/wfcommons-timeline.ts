/**
 * A WfCommons trace (WfFormat 1.4 / 1.5) as a timeline: one execution per task. Tasks carry
 * runtimes and parents; start times only when the trace records a task's `executedAt`. Without
 * them the timeline is the ideal schedule: every task starts when its last parent ends.
 */
import { topoOrder } from '../compiler/graph.ts';
import { importWfCommons } from '../importers/wfcommons.ts';
import { sortExecutions, type Execution, type Timeline } from './timeline.ts';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** True when `json` has the shape of a WfCommons trace (a `workflow` object with tasks). */
export function looksLikeWfCommons(json: unknown): boolean {
  if (!isObject(json) || !isObject(json['workflow'])) return false;
  const wf = json['workflow'];
  return Array.isArray(wf['tasks']) || isObject(wf['specification']);
}

/**
 * Builds the timeline of a parsed WfCommons trace. Throws the importer's WorkflowDefinitionError
 * (every problem with its JSON path) for a malformed trace.
 */
export function wfcommonsTimeline(trace: unknown, title: string): Timeline {
  // Drawn, not run: a trace that would not pass as a workflow (no tasks, say) is still charted.
  const { workflow } = importWfCommons(trace, { check: false });
  const wf = (trace as { workflow: Json }).workflow;
  const { starts, programs, unreadable } = executionRecords(wf);
  const runtime = new Map<string, number>();
  const category = new Map<string, string>();
  for (const [id, step] of Object.entries(workflow.steps)) {
    runtime.set(id, step.executor.type === 'simulate' ? step.executor.durationMs : 0);
    category.set(id, step.description ?? programs.get(id) ?? id.replace(/_ID\d+$/, ''));
  }
  // Object.fromEntries defines own properties: a task id such as "__proto__" stays a key.
  const needs: Record<string, string[]> = Object.fromEntries(Object.entries(workflow.steps).map(([id, step]) => [id, [...(step.needs ?? [])]]));
  const ids = Object.keys(needs);
  const notes: string[] = [];
  const measured = ids.length > 0 && ids.every((id) => starts.has(id));
  const start = new Map<string, number>();
  if (measured) {
    for (const id of ids) start.set(id, starts.get(id)!);
  } else {
    // Unlimited machines, no overhead: a task starts the moment its last parent ends.
    const end = new Map<string, number>();
    for (const id of topoOrder(new Map(Object.entries(needs))).order) {
      const s = needs[id]!.reduce((m, p) => Math.max(m, end.get(p) ?? 0), 0);
      start.set(id, s);
      end.set(id, s + runtime.get(id)!);
    }
    const missing = ids.filter((id) => !starts.has(id)).length;
    const partly = starts.size > 0 || unreadable.length > 0 ? ` (${missing} of ${ids.length} tasks have no executedAt that is a time)` : '';
    notes.push(`the trace has no task start times${partly}: ideal schedule computed from runtimes and parents (unlimited machines, no overhead), so makespan = critical path`);
    const more = unreadable.length > 3 ? `, and ${unreadable.length - 3} more` : '';
    if (unreadable.length > 0) notes.push(`not a time (ISO 8601 or epoch seconds): ${unreadable.slice(0, 3).join(', ')}${more}`);
  }
  const recorded = recordedMakespan(wf);
  if (recorded !== undefined) notes.push(`the trace records a makespan of ${recorded} s (workflow${isObject(wf['execution']) ? '.execution' : ''}.makespanInSeconds)`);
  const executions: Execution[] = ids.map((id) => ({
    step: id,
    attempt: 1,
    // `joinflow import wfcommons` makes every task a simulate step.
    kind: 'simulate',
    category: category.get(id)!,
    status: 'succeeded',
    start: start.get(id)!,
    end: start.get(id)! + runtime.get(id)!,
  }));
  const sorted = sortExecutions(executions);
  return {
    title,
    workflow: workflow.name,
    startedAt: sorted[0]?.start ?? 0,
    needs,
    executions: sorted,
    schedule: measured ? 'measured' : 'ideal',
    notes,
  };
}

/**
 * From the execution records: task start times (epoch ms) where a task has an `executedAt`, and
 * the program each task ran (its `command.program`), the best category where ids are unique names.
 */
function executionRecords(wf: Json): { starts: Map<string, number>; programs: Map<string, string>; unreadable: string[] } {
  const starts = new Map<string, number>();
  const programs = new Map<string, string>();
  /** The paths of `executedAt` values that are there but not a time, with the value. */
  const unreadable: string[] = [];
  const spec = wf['specification'];
  const execution = wf['execution'];
  // 1.5 keeps execution records apart, keyed by id; 1.4 has them on the task, keyed by name.
  const records = isObject(spec) ? (isObject(execution) ? execution['tasks'] : undefined) : wf['tasks'];
  if (!Array.isArray(records)) return { starts, programs, unreadable };
  const key = isObject(spec) ? 'id' : 'name';
  const at = isObject(spec) ? 'workflow.execution.tasks' : 'workflow.tasks';
  for (const [i, r] of records.entries()) {
    if (!isObject(r) || typeof r[key] !== 'string') continue;
    const value = r['executedAt'];
    const time = parseTime(value);
    if (time !== undefined) starts.set(r[key], time);
    else if (value !== undefined && value !== null) unreadable.push(`${at}[${i}].executedAt ${JSON.stringify(value)}`);
    const program = isObject(r['command']) ? r['command']['program'] : undefined;
    if (typeof program === 'string' && program !== '') programs.set(r[key], program);
  }
  return { starts, programs, unreadable };
}

/**
 * Epoch ms of an ISO 8601 time, also in the basic form some traces use (20200401T035043+0000),
 * or of a number of epoch seconds.
 */
export function parseTime(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value * 1000 : undefined;
  if (typeof value !== 'string') return undefined;
  const basic = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:?\d{2})?$/.exec(value);
  // A time without a zone is UTC (as the basic form is), not the reading machine's local time.
  const text = basic
    ? `${basic[1]}-${basic[2]}-${basic[3]}T${basic[4]}:${basic[5]}:${basic[6]}${basic[7] === undefined ? 'Z' : basic[7].replace(/^([+-]\d{2})(\d{2})$/, '$1:$2')}`
    : /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value)
      ? `${value.replace(' ', 'T')}Z`
      : value;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

function recordedMakespan(wf: Json): number | undefined {
  const execution = wf['execution'];
  const value = isObject(execution) ? execution['makespanInSeconds'] : wf['makespanInSeconds'];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
