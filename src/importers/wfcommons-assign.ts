/**
 * The second half of the WfCommons import (wfcommons.ts reads the trace): which executor each task
 * gets from a mapping, what no entry covers and which keys cover nothing; and the final check that
 * the workflow is one `joinflow run` accepts, its problems pointed back at the trace.
 */
import { suggest, validateWorkflow } from '../compiler/validate.ts';
import type { Problem } from '../model/errors.ts';
import type { StepInput, WorkflowInput } from '../model/workflow.ts';
import { assignExecutor, entryFor, type ExecutorMapping } from './wfcommons-executors.ts';

/** One task of a trace, as read. */
export type TraceTask = {
  id: string;
  /** Path of the task object, e.g. `workflow.tasks[3]`, for problems. */
  path: string;
  /** Path of its recorded runtime (1.5: in `workflow.execution.tasks`), if it has one. */
  runtimePath: string | undefined;
  description: string | undefined;
  runtimeSeconds: number;
  name: string;
  category: string;
  inputs: string[];
  outputs: string[];
  command: { program: string; arguments: string[] } | undefined;
};

/** A step without its `needs`. */
export type Assignment = Omit<StepInput, 'needs'>;

/** How many groups of unmapped tasks an error names before it says "and N more". */
const SHOWN_GROUPS = 8;

/**
 * The executor of every task: its recorded runtime simulated without a mapping, else the entry
 * {@link entryFor} finds. Problems (unmapped tasks, templates that cannot be filled, keys that
 * match nothing when there is no default) go to `problems`; keys that match nothing while a
 * default catches the tasks go to `warnings`.
 */
export function assignTasks(
  tasks: readonly TraceTask[],
  mapping: ExecutorMapping | undefined,
  problems: Problem[],
  warnings: Problem[],
): Map<string, Assignment> {
  const assigned = new Map<string, Assignment>();
  if (!mapping) {
    for (const t of tasks) assigned.set(t.id, { executor: { type: 'simulate', durationMs: t.runtimeSeconds * 1000 } });
    return assigned;
  }
  const unmapped: TraceTask[] = [];
  for (const t of tasks) {
    const facts = { ...t, ...(t.command ? { program: t.command.program, arguments: t.command.arguments } : {}) };
    const entry = entryFor(mapping, facts);
    if (!entry) {
      unmapped.push(t);
      continue;
    }
    const r = assignExecutor(entry, facts);
    // A simulated duration is the runtime scaled: point at the runtime when it overflows.
    if (!r.ok) problems.push({ path: entry.entry.type === 'simulate' ? (t.runtimePath ?? t.path) : t.path, message: r.error });
    // The recorded runtime becomes the step's expected time: the engine starts the tasks with
    // the longest chain of expected time ahead of them first (runtime/priority.ts).
    else if (r.value.executor.type !== 'simulate' && t.runtimeSeconds > 0) {
      assigned.set(t.id, { ...r.value, resources: { expectedSeconds: t.runtimeSeconds } });
    } else assigned.set(t.id, r.value);
  }
  for (const p of unusedKeys(mapping, tasks)) (mapping.fallback ? warnings : problems).push(p);
  if (unmapped.length > 0) problems.push(unmappedProblem(unmapped, tasks.length));
  return assigned;
}

/**
 * Mapping keys that are no task's id, name, category or program: a typo (`mProjekt`) would
 * otherwise leave its tasks to the default, or unmapped, without a word about the key.
 */
function unusedKeys(mapping: ExecutorMapping, tasks: readonly TraceTask[]): Problem[] {
  // Types first, so that a suggestion names a category or program rather than one task.
  const known = new Set<string>();
  for (const t of tasks) {
    known.add(t.category);
    if (t.command) known.add(t.command.program);
  }
  for (const t of tasks) known.add(t.name).add(t.id);
  const then = mapping.fallback ? '; the tasks it was meant for get the "default" entry' : '';
  return [...mapping.tasks.keys()]
    .filter((key) => !known.has(key))
    .map((key) => ({ path: `mapping.tasks.${key}`, message: `matches no task id, name, category or program of the trace${suggest(key, known)}${then}` }));
}

/**
 * One problem for the tasks no entry covers, grouped by category, or by program where that makes
 * fewer groups (Epigenomics: 8 programs, 1,695 categories); at most {@link SHOWN_GROUPS} named.
 */
function unmappedProblem(unmapped: readonly TraceTask[], total: number): Problem {
  const count = (key: (t: TraceTask) => string): Map<string, number> => {
    const groups = new Map<string, number>();
    for (const t of unmapped) groups.set(key(t), (groups.get(key(t)) ?? 0) + 1);
    return groups;
  };
  const byCategory = count((t) => t.category);
  const byProgram = count((t) => t.command?.program ?? t.category);
  const programs = byProgram.size < byCategory.size;
  const groups = [...(programs ? byProgram : byCategory)];
  const tasks = (n: number): string => `${n} task${n === 1 ? '' : 's'}`;
  const shown = groups.slice(0, SHOWN_GROUPS).map(([k, n]) => `${k} (${tasks(n)})`);
  const rest = groups.slice(SHOWN_GROUPS);
  if (rest.length > 0) shown.push(`and ${rest.length} more (${tasks(rest.reduce((sum, [, n]) => sum + n, 0))})`);
  const by = programs ? (unmapped.every((t) => t.command) ? 'program' : 'program or category') : 'category';
  return {
    path: 'mapping.tasks',
    message: `no executor for ${unmapped.length} of ${tasks(total)}, by ${by}: ${shown.join(', ')}: add keys under "tasks" (a task id, name, category or program) or give a "default" entry`,
  };
}

/**
 * Checks `workflow` as `joinflow run` and `plan` do (validateWorkflow), so that the importer never
 * writes a workflow they refuse; each problem points at the task (or its runtime) it came from.
 */
export function checkImported(workflow: WorkflowInput, tasks: readonly TraceTask[], tasksPath: string): Problem[] {
  const checked = validateWorkflow(workflow);
  if (checked.workflow) return [];
  const byId = new Map(tasks.map((t) => [t.id, t]));
  return checked.problems.map((p) => toTrace(p, byId, tasksPath));
}

/** Fields the importer derives from a task's recorded runtime, and how. */
const FROM_RUNTIME: Record<string, string> = {
  'resources.expectedSeconds': 'its recorded runtime, which a step that runs a command gets as its expected time',
  'executor.durationMs': 'the recorded runtime in milliseconds, times the mapping\'s scale',
};

function toTrace(p: Problem, byId: ReadonlyMap<string, TraceTask>, tasksPath: string): Problem {
  if (p.path === 'steps') return { path: tasksPath, message: p.message };
  if (!p.path.startsWith('steps.')) return p;
  const rest = p.path.slice('steps.'.length);
  // Ids may contain "." and ":": the longest id that the path starts with is the step's.
  let task: TraceTask | undefined;
  for (let i = 1; i <= rest.length; i++) {
    if (i < rest.length && rest[i] !== '.' && rest[i] !== '[') continue;
    task = byId.get(rest.slice(0, i)) ?? task;
  }
  if (!task) return p;
  const field = rest.slice(task.id.length).replace(/^\./, '');
  const derived = FROM_RUNTIME[field];
  const at = derived !== undefined && task.runtimePath !== undefined ? task.runtimePath : task.path;
  const what = field === '' ? '' : `, ${field}${derived === undefined ? '' : ` (${derived})`}`;
  return { path: at, message: `step "${task.id}"${what}: ${p.message}` };
}
