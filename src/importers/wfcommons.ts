/**
 * WfCommons (WfFormat 1.4 and 1.5) traces to joinflow workflows: `simulate` steps by default, or
 * the executors an ExecutorMapping assigns, whose steps get the tasks' input/output file lists as
 * `files`. Pure: the caller reads the files; this only interprets the parsed JSON.
 */
import { dagStats, findCycle, topoOrder } from '../compiler/graph.ts';
import { WorkflowDefinitionError, type Problem } from '../model/errors.ts';
import {
  DataFileSchema,
  STEP_ID_PATTERN,
  WORKFLOW_NAME_PATTERN, WORKFLOW_NAME_RULE,
  type StepInput,
  type WorkflowInput,
} from '../model/workflow.ts';
import { assignTasks, checkImported, type TraceTask } from './wfcommons-assign.ts';
import { addFileEdges } from './wfcommons-files.ts';
import type { ExecutorMapping } from './wfcommons-executors.ts';

/** WfFormat's schema versions (wfcommons.org); traces are read by their layout (1.4 or 1.5), whatever they declare. */
const KNOWN_VERSIONS = ['1.0', '1.1', '1.2', '1.3', '1.4', '1.5'];

/** Facts about an imported trace, for reports and benchmarks. */
export type WfCommonsStats = {
  tasks: number;
  edges: number;
  depth: number;
  /** Largest sum of runtimes along a dependency path, in milliseconds. */
  criticalPathMs: number;
  schemaVersion: string;
  /** Steps whose file lists were dropped: their executor (function, auto, container handler) stages no files. */
  filesDropped: number;
};

/** Options of {@link importWfCommons}. */
export type WfCommonsImportOptions = {
  /** Workflow name; defaults to the trace's `name`, made to fit WORKFLOW_NAME_PATTERN. */
  name?: string;
  /** Executors per task (default: every task simulates its recorded runtime). */
  executors?: ExecutorMapping;
  /**
   * Keep the tasks' file lists as step `files`. Default: the mapping's `files`, else true with a
   * mapping and false without one — simulate steps ignore files, and on large traces they nearly
   * double the workflow (and its compile time).
   */
  files?: boolean;
  /**
   * Check the workflow as `joinflow run` does (default true): an empty trace, a reserved task id
   * or a runtime beyond a limit is then an error. False suits readers that only chart the trace.
   */
  check?: boolean;
};

type Json = Record<string, unknown>;

/** One task after reading, before edges are checked against the set of ids. */
type Task = TraceTask;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const FALLBACK_NAME = 'wfcommons';

/**
 * Converts a parsed WfCommons trace into a workflow whose steps simulate the recorded runtimes,
 * or run the executors of `options.executors`. The workflow is checked as `joinflow run` checks
 * it. Throws WorkflowDefinitionError listing every problem found, each with its JSON path in the
 * trace (`mapping.tasks…` for the mapping's); `warnings` are mapping keys that match no task
 * while a `default` entry takes the tasks.
 */
export function importWfCommons(
  trace: unknown,
  options: WfCommonsImportOptions = {},
): { workflow: WorkflowInput; stats: WfCommonsStats; warnings: Problem[] } {
  const problems: Problem[] = [];
  const fail = (): never => {
    throw new WorkflowDefinitionError(problems);
  };
  if (!isObject(trace)) {
    problems.push({ path: '', message: `a WfCommons trace must be a JSON object, got ${kindOf(trace)}` });
    return fail();
  }
  const wf = trace['workflow'];
  if (!isObject(wf)) {
    problems.push({ path: 'workflow', message: `must be an object, got ${kindOf(wf)}` });
    return fail();
  }

  // The layout, not the declared schemaVersion, decides how to read: some traces mislabel it.
  const spec = wf['specification'];
  const v15 = spec !== undefined;
  const tasksPath = v15 ? 'workflow.specification.tasks' : 'workflow.tasks';
  const rawTasks = v15 ? (isObject(spec) ? spec['tasks'] : undefined) : wf['tasks'];
  if (v15 && !isObject(spec)) {
    problems.push({ path: 'workflow.specification', message: `must be an object, got ${kindOf(spec)}` });
    return fail();
  }
  if (!Array.isArray(rawTasks)) {
    problems.push({ path: tasksPath, message: `must be an array of tasks, got ${kindOf(rawTasks)}` });
    return fail();
  }
  const check = options.check ?? true;
  if (check && rawTasks.length === 0) {
    problems.push({ path: tasksPath, message: 'has no tasks, and a workflow needs at least one step' });
    return fail();
  }

  // 1.4 links tasks by `name` (its `id` is a short per-run number); 1.5 links them by `id`.
  const idKey = v15 ? 'id' : 'name';
  const runtimes = v15 ? readExecutionRuntimes(wf['execution'], problems) : undefined;

  const tasks: Task[] = [];
  const byId = new Map<string, Task>();
  /** Where a task has no runtime (missing or null): it is taken as 0 s, and the import says so. */
  const noRuntime: string[] = [];
  rawTasks.forEach((raw: unknown, i) => {
    const path = `${tasksPath}[${i}]`;
    if (!isObject(raw)) {
      problems.push({ path, message: `a task must be an object, got ${kindOf(raw)}` });
      return;
    }
    const id = raw[idKey];
    if (typeof id !== 'string' || id === '') {
      problems.push({ path: `${path}.${idKey}`, message: `a task needs a non-empty string "${idKey}" (the identifier parents and children use)` });
      return;
    }
    if (!STEP_ID_PATTERN.test(id)) {
      problems.push({ path: `${path}.${idKey}`, message: `"${id}" is not a valid step id: must be 1-200 characters of ASCII letters, digits, "_", ".", ":" or "-", not starting with "." ":" or "-"` });
    }
    const first = byId.get(id);
    if (first) {
      problems.push({ path: `${path}.${idKey}`, message: `duplicate task id "${id}" (first at ${first.path})` });
      return;
    }
    let runtimeSeconds = 0;
    let runtimePath: string | undefined;
    let command: Task['command'];
    if (runtimes) {
      const r = runtimes.get(id);
      if (r) runtimeSeconds = checkRuntime(r.value, (runtimePath = r.path), problems);
      if (r?.value == null) noRuntime.push(r ? r.path : `${path} (no execution record)`);
      command = readCommand(r?.command);
    } else {
      const key = raw['runtimeInSeconds'] != null ? 'runtimeInSeconds' : 'runtime';
      runtimePath = `${path}.${key}`;
      runtimeSeconds = checkRuntime(raw[key], runtimePath, problems);
      if (raw[key] == null) noRuntime.push(runtimePath);
      command = readCommand(raw['command']);
    }
    // 1.5 may use `name` for the category (mProject) with the id unique; 1.4 has `category` for that.
    const label = v15 ? raw['name'] : raw['category'];
    const description = typeof label === 'string' && label !== '' && label !== id ? label : undefined;
    const name = typeof raw['name'] === 'string' && raw['name'] !== '' ? raw['name'] : id;
    const category = typeof raw['category'] === 'string' && raw['category'] !== '' ? raw['category'] : categoryOf(name);
    const { inputs, outputs } = readFiles(raw, path, v15, problems);
    const task: Task = { id, path, runtimePath, description, runtimeSeconds, name, category, inputs, outputs, command };
    tasks.push(task);
    byId.set(id, task);
  });

  if (runtimes) {
    for (const [id, r] of runtimes) {
      if (!byId.has(id)) problems.push({ path: `${r.path.replace(/\.runtimeInSeconds$/, '')}.id`, message: `unknown task "${id}" (not in ${tasksPath})` });
    }
  }

  // Traces often fill only one side, and the sides may disagree: every mention is an edge.
  const parentsOf = new Map<string, Set<string>>(tasks.map((t) => [t.id, new Set<string>()]));
  rawTasks.forEach((raw: unknown, i) => {
    if (!isObject(raw)) return;
    const id = raw[idKey];
    const self = typeof id === 'string' ? byId.get(id) : undefined;
    // A duplicate's edges would be attributed to the first task of that id: skip them.
    if (!self || self.path !== `${tasksPath}[${i}]`) return;
    for (const side of ['parents', 'children'] as const) {
      const list = raw[side];
      const listPath = `${self.path}.${side}`;
      if (list === undefined || list === null) continue;
      if (!Array.isArray(list)) {
        problems.push({ path: listPath, message: `must be an array of task ids, got ${kindOf(list)}` });
        continue;
      }
      list.forEach((other: unknown, j) => {
        if (typeof other !== 'string' || !byId.has(other)) {
          const shown = typeof other === 'string' ? `"${other}"` : kindOf(other);
          problems.push({ path: `${listPath}[${j}]`, message: `unknown task ${shown}` });
          return;
        }
        if (side === 'parents') parentsOf.get(self.id)!.add(other);
        else parentsOf.get(other)!.add(self.id);
      });
    }
  });

  let needs = new Map<string, string[]>(tasks.map((t) => [t.id, [...parentsOf.get(t.id)!].sort()]));
  const { cyclic } = topoOrder(needs);
  if (cyclic.length > 0) {
    // Start the cycle at its earliest task so the report reads in the trace's own order.
    const loop = findCycle(needs, cyclic).slice(0, -1);
    const index = [...needs.keys()];
    const at = loop.reduce((best, s, k) => (index.indexOf(s) < index.indexOf(loop[best]!) ? k : best), 0);
    const cycle = [...loop.slice(at), ...loop.slice(0, at), ...loop.slice(at, at + 1)];
    const others = cyclic.length - new Set(cycle).size;
    problems.push({
      path: byId.get(cycle[0] ?? '')?.path ?? tasksPath,
      message: `dependency cycle: ${cycle.join(' -> ')}${others > 0 ? ` (${others} more task${others === 1 ? '' : 's'} on or after a cycle)` : ''}`,
    });
  }

  const name = workflowName(trace['name'], options.name, problems);
  const mapping = options.executors;
  const keepFiles = options.files ?? mapping?.files ?? mapping !== undefined;
  const warnings: Problem[] = [];
  // Said, not refused: a trace may leave out what it did not measure, but its durations (and a
  // `{runtime}` in a command) then count those tasks as taking no time.
  if (noRuntime.length > 0) {
    const more = noRuntime.length > 1 ? ` (and ${noRuntime.length - 1} more task${noRuntime.length === 2 ? '' : 's'})` : '';
    warnings.push({ path: noRuntime[0]!, message: `no runtime${more}: taken as 0 s` });
  }
  const version = trace['schemaVersion'];
  const declared = typeof version === 'string' ? version : typeof version === 'number' ? String(version) : 'unknown';
  if (!KNOWN_VERSIONS.includes(declared)) {
    warnings.push({ path: 'schemaVersion', message: `${declared === 'unknown' ? 'missing' : `"${declared}"`}: not a WfFormat version joinflow knows (${KNOWN_VERSIONS.join(', ')}); read as ${v15 ? '1.5' : '1.4'} by its layout` });
  }
  const assigned = assignTasks(tasks, mapping, problems, warnings);
  if (problems.length > 0) return fail();
  // Staged files are dependencies: a reader runs after the writer the trace did not order it after.
  const fileEdges = addFileEdges(tasks, parentsOf, (id) => keepFiles && stagesFiles(assigned.get(id)!.executor));
  warnings.push(...fileEdges.warnings);
  if (fileEdges.added.length > 0) {
    needs = new Map<string, string[]>(tasks.map((t) => [t.id, [...parentsOf.get(t.id)!].sort()]));
    const loop = topoOrder(needs).cyclic;
    if (loop.length > 0) {
      const cycle = findCycle(needs, loop);
      const edge = fileEdges.added.find((e) => cycle.includes(e.reader) && cycle.includes(e.writer)) ?? fileEdges.added[0]!;
      problems.push({ path: byId.get(edge.reader)!.path, message: `dependency cycle once the file lists order their readers after their writers: ${cycle.join(' -> ')} ("${edge.file}" is written by ${edge.writer} and read by ${edge.reader})` });
      return fail();
    }
  }

  // Object.fromEntries defines own properties, so an id like "__proto__" stays a plain key.
  let filesDropped = 0;
  const steps = Object.fromEntries(
    tasks.map((t): [string, StepInput] => {
      const listed = keepFiles && (t.inputs.length > 0 || t.outputs.length > 0);
      const stages = stagesFiles(assigned.get(t.id)!.executor);
      if (listed && !stages) filesDropped++;
      const files = listed && stages ? { files: { inputs: t.inputs, outputs: t.outputs } } : {};
      const step: StepInput = { needs: needs.get(t.id)!, ...assigned.get(t.id)!, ...files };
      return [t.id, t.description === undefined ? step : { description: t.description, ...step }];
    }),
  );
  const description = typeof trace['description'] === 'string' ? trace['description'] : undefined;
  const workflow: WorkflowInput = description === undefined ? { name, steps } : { name, description, steps };
  // What run and plan would refuse (a reserved id, a runtime beyond a limit) is refused here.
  if (check) problems.push(...checkImported(workflow, tasks, tasksPath));
  if (problems.length > 0) return fail();

  const durations = new Map(tasks.map((t) => [t.id, t.runtimeSeconds * 1000]));
  const dag = dagStats(needs, (s) => durations.get(s) ?? 0);
  return {
    workflow,
    stats: {
      tasks: tasks.length,
      edges: dag.edges,
      depth: dag.depth,
      criticalPathMs: dag.criticalPath,
      schemaVersion: declared,
      filesDropped,
    },
    warnings,
  };
}

/** Whether steps of this executor can have `files` (staged around a command; simulate steps ignore them). */
function stagesFiles(e: StepInput['executor']): boolean {
  return !(e.type === 'function' || e.type === 'auto' || (e.type === 'container' && e.module !== undefined));
}

/**
 * Makes an arbitrary string fit WORKFLOW_NAME_PATTERN: invalid characters become "-", a leading
 * "." or "-" is dropped, and the result is cut to 64 characters; `fallback` ("wfcommons") if
 * nothing is left.
 */
export function sanitizeWorkflowName(raw: string, fallback = FALLBACK_NAME): string {
  // Accents dropped ("Été" is "Ete"), a run of unusable characters one dash: "Été 2" is "Ete-2".
  const name = raw.normalize('NFKD').replace(/\p{M}/gu, '').replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[.-]+/, '').slice(0, 64);
  return name === '' ? fallback : name;
}

function workflowName(traceName: unknown, explicit: string | undefined, problems: Problem[]): string {
  if (explicit !== undefined) {
    // An explicit name is the caller's choice: rewriting it silently would surprise them.
    if (!WORKFLOW_NAME_PATTERN.test(explicit)) {
      problems.push({ path: 'options.name', message: `"${explicit}" must be ${WORKFLOW_NAME_RULE}` });
    }
    return explicit;
  }
  return sanitizeWorkflowName(typeof traceName === 'string' ? traceName : '');
}

/** `mProject_ID0000001` -> `mProject`: Pegasus names tasks `<transformation>_ID<n>`. */
export function categoryOf(name: string): string {
  const stripped = name.replace(/_ID\d+$/, '');
  return stripped === '' ? name : stripped;
}

function readCommand(raw: unknown): Task['command'] {
  if (!isObject(raw) || typeof raw['program'] !== 'string' || raw['program'] === '') return undefined;
  const args = Array.isArray(raw['arguments']) ? raw['arguments'] : [];
  return { program: raw['program'], arguments: args.map((a: unknown) => (typeof a === 'string' ? a : JSON.stringify(a))) };
}

/** A task's file lists: 1.5 `inputFiles`/`outputFiles` (names), 1.4 `files[]` with `link` and `name`. */
function readFiles(raw: Json, path: string, v15: boolean, problems: Problem[]): { inputs: string[]; outputs: string[] } {
  const inputs = new Set<string>();
  const outputs = new Set<string>();
  const add = (to: Set<string>, value: unknown, at: string): void => {
    const name = isObject(value) ? (value['name'] ?? value['id']) : value;
    if (typeof name !== 'string') {
      problems.push({ path: at, message: `must be a file name (a string), got ${kindOf(name)}` });
      return;
    }
    const checked = DataFileSchema.safeParse(name);
    if (checked.success) to.add(checked.data);
    else problems.push({ path: at, message: `file name ${JSON.stringify(name)} ${checked.error.issues[0]?.message ?? 'is invalid'}` });
  };
  if (v15) {
    for (const [key, to] of [['inputFiles', inputs], ['outputFiles', outputs]] as const) {
      const list = raw[key];
      if (list === undefined || list === null) continue;
      if (!Array.isArray(list)) problems.push({ path: `${path}.${key}`, message: `must be an array of file names, got ${kindOf(list)}` });
      else list.forEach((f: unknown, i) => add(to, f, `${path}.${key}[${i}]`));
    }
  } else {
    const list = raw['files'];
    if (Array.isArray(list)) {
      list.forEach((f: unknown, i) => {
        const link = isObject(f) ? f['link'] : undefined;
        if (link === 'input' || link === 'output') add(link === 'input' ? inputs : outputs, f, `${path}.files[${i}].name`);
        else problems.push({ path: `${path}.files[${i}].link`, message: `must be "input" or "output", got ${kindOf(link)}` });
      });
    } else if (list !== undefined && list !== null) problems.push({ path: `${path}.files`, message: `must be an array, got ${kindOf(list)}` });
  }
  return { inputs: [...inputs], outputs: [...outputs] };
}

type ExecutionRecord = { value: unknown; path: string; command: unknown };

/** 1.5 keeps runtimes (and commands) apart from the structure, keyed by task id. */
function readExecutionRuntimes(
  execution: unknown,
  problems: Problem[],
): Map<string, ExecutionRecord> {
  const out = new Map<string, ExecutionRecord>();
  // Without an execution section the trace is a plain specification: every runtime is 0.
  if (execution === undefined) return out;
  if (!isObject(execution)) {
    problems.push({ path: 'workflow.execution', message: `must be an object, got ${kindOf(execution)}` });
    return out;
  }
  const list = execution['tasks'];
  if (list === undefined) return out;
  if (!Array.isArray(list)) {
    problems.push({ path: 'workflow.execution.tasks', message: `must be an array, got ${kindOf(list)}` });
    return out;
  }
  list.forEach((raw: unknown, k) => {
    const path = `workflow.execution.tasks[${k}]`;
    const id = isObject(raw) ? raw['id'] : undefined;
    if (typeof id !== 'string') {
      problems.push({ path: `${path}.id`, message: 'an execution record needs a string "id"' });
      return;
    }
    const first = out.get(id);
    if (first) {
      problems.push({ path: `${path}.id`, message: `duplicate execution record for "${id}" (first at ${first.path.replace(/\.runtimeInSeconds$/, '')})` });
      return;
    }
    out.set(id, { value: (raw as Json)['runtimeInSeconds'], path: `${path}.runtimeInSeconds`, command: (raw as Json)['command'] });
  });
  return out;
}

function checkRuntime(value: unknown, path: string, problems: Problem[]): number {
  if (value === undefined || value === null) return 0;
  // Seconds times 1000 must stay finite too, or durationMs would be Infinity.
  if (typeof value !== 'number' || !Number.isFinite(value * 1000) || value < 0) {
    const why = typeof value === 'number' && Number.isFinite(value) && value >= 0 ? ', small enough to count in milliseconds' : '';
    problems.push({ path, message: `runtime must be a finite, non-negative number of seconds${why}, got ${typeof value === 'number' ? String(value) : kindOf(value)}` });
    return 0;
  }
  return value;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing (the field is missing)';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}
