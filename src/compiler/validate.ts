/**
 * Workflow validation: schema problems per step plus graph problems (unknown needs, cycles,
 * forEach over a non-predecessor, missing handlers), all collected with their paths.
 */
import type { z } from 'zod';
import { issueMessage, pathKey, valueAt, type Problem } from '../model/errors.ts';
import { STEP_ID_PATTERN, StepSchema, WorkflowSchema, type StepSpec, type Workflow } from '../model/workflow.ts';
import { catchers, catchProblems, skippableSteps, waitSkipProblems, whenProblems } from './choices.ts';
import { findCycle, topoOrder } from './graph.ts';
import { place } from './placement.ts';

/** What the loader found for each handler module a workflow names (resolved before compiling). */
/** A handler module's function exports (`note`: why there may be none), or why it did not load. */
export type ModuleInfo = { path: string; exports: readonly string[]; note?: string } | { error: string };

export type ValidateOptions = {
  /** Handler modules keyed by the `module` string as written; absent = not checked. */
  modules?: Readonly<Record<string, ModuleInfo>>;
};

/** Parses and checks a workflow; returns it with defaults applied, or every problem found. */
export function validateWorkflow(
  input: unknown,
  options: ValidateOptions = {},
): { workflow: Workflow; problems: [] } | { workflow: undefined; problems: Problem[] } {
  const problems: Problem[] = [];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { workflow: undefined, problems: [{ path: '', message: 'a workflow must be an object with "name" and "steps"' }] };
  }
  const raw = input as Record<string, unknown>;
  // Steps are parsed one by one so that one bad step does not hide the problems of the others.
  const rawSteps = raw['steps'];
  const steps: Record<string, StepSpec> = {};
  if (typeof rawSteps === 'object' && rawSteps !== null && !Array.isArray(rawSteps)) {
    const ids = Object.keys(rawSteps);
    if (ids.length === 0) problems.push({ path: 'steps', message: 'a workflow needs at least one step' });
    for (const id of ids) {
      const where = `steps.${id}`;
      // Assigning steps["__proto__"] would replace the prototype instead: the step would vanish.
      if (id === '__proto__') {
        problems.push({ path: where, message: '"__proto__" is reserved in JavaScript objects and cannot be a step id: rename the step' });
        continue;
      }
      if (!STEP_ID_PATTERN.test(id)) {
        problems.push({
          path: where,
          message: 'step ids must be 1-200 characters of ASCII letters, digits, "_", ".", ":" or "-", not starting with "." ":" or "-"',
        });
      }
      const parsed = StepSchema.safeParse((rawSteps as Record<string, unknown>)[id]);
      if (parsed.success) {
        steps[id] = parsed.data;
        const e = parsed.data.executor;
        // A simulated output and a handler's params are copied into the plan, which must be
        // written as JSON (a BigInt crashed the plan's serialization; a function failed each attempt).
        const field = e.type === 'simulate' ? 'output' : e.type === 'function' ? 'params' : undefined;
        const value = field === undefined ? undefined : (e as Record<string, unknown>)[field];
        const bad = value === undefined ? undefined : jsonProblem(value);
        if (bad) problems.push({ path: `${where}.executor.${field}${bad.at}`, message: bad.message });
      } else problems.push(...zodProblems(parsed.error, where, (rawSteps as Record<string, unknown>)[id]));
    }
  }
  const topInput = { ...raw, steps: {} };
  const top = WorkflowSchema.safeParse(topInput);
  if (!top.success) problems.push(...zodProblems(top.error, '', topInput));
  if (rawSteps === undefined) problems.push({ path: 'steps', message: 'is required: a map from step id to step' });
  else if (typeof rawSteps !== 'object' || rawSteps === null || Array.isArray(rawSteps)) {
    problems.push({ path: 'steps', message: 'must be a map from step id to step (not a list)' });
  }
  problems.push(...graphProblems(raw, steps, options));
  if (problems.length > 0 || !top.success) return { workflow: undefined, problems: dedupe(problems) };
  return { workflow: { ...top.data, steps }, problems: [] };
}

function graphProblems(raw: Record<string, unknown>, steps: Record<string, StepSpec>, options: ValidateOptions): Problem[] {
  const problems: Problem[] = [];
  const known = new Set(Object.keys(steps));
  const allIds = new Set(Object.keys((raw['steps'] as object | null) ?? {}));
  for (const [id, step] of Object.entries(steps)) {
    const seen = new Set<string>();
    step.needs.forEach((need, i) => {
      const path = `steps.${id}.needs[${i}]`;
      if (need === id) problems.push({ path, message: `step "${id}" cannot need itself` });
      else if (!allIds.has(need)) problems.push({ path, message: `unknown step "${need}"${suggest(need, allIds)}` });
      if (seen.has(need)) problems.push({ path, message: `"${need}" is listed twice` });
      seen.add(need);
    });
    // Logs, working directories and Batch outputs are named <step>[.<item>].<attempt>: "qc.0"
    // (attempt 1: "qc.0.1") would write the files of item 0 of forEach step "qc".
    const numbered = /^(.+)\.(\d+)$/.exec(id);
    if (numbered && steps[numbered[1]!]?.forEach !== undefined) {
      problems.push({
        path: `steps.${id}`,
        message: `the id "${id}" would share its file names (logs, working directory: <step>.<item>.<attempt>) with item ${numbered[2]} of forEach step "${numbered[1]}": rename it`,
      });
    }
    if (step.forEach !== undefined) {
      const over = typeof step.forEach === 'string' ? step.forEach : step.forEach.step;
      if (!step.needs.includes(over)) {
        problems.push({
          path: `steps.${id}.forEach`,
          message: `fans out over "${over}", which is not a predecessor of "${id}": add it to needs`,
        });
      }
    }
    problems.push(...waitProblems(id, step), ...whenProblems(id, step));
    const e = step.executor;
    if (e.type === 'container' && (e.module === undefined) === (e.command === undefined)) {
      problems.push({ path: `steps.${id}.executor`, message: 'a container step runs either a handler "module" or a "command": give exactly one' });
    }
    problems.push(...placementProblems(id, step));
    // Files are staged around a command (env + checks); a handler in a thread has no such hook.
    if (step.files && (e.type === 'function' || e.type === 'auto' || (e.type === 'container' && e.module !== undefined))) {
      problems.push({ path: `steps.${id}.files`, message: `data files are staged for process, batch and container command steps, not for ${e.type === 'container' ? 'container handler' : e.type} steps: drop "files" or run a command` });
    }
    const module = e.type === 'function' || e.type === 'container' || e.type === 'auto' ? e.module : undefined;
    if (module !== undefined && (e.type === 'function' || e.type === 'container' || e.type === 'auto') && options.modules) {
      // Own keys only: a module named "constructor" must not find Object.prototype.constructor.
      const info = Object.hasOwn(options.modules, module) ? options.modules[module] : undefined;
      const path = `steps.${id}.executor`;
      if (!info) problems.push({ path: `${path}.module`, message: `handler module "${module}" was not resolved` });
      else if ('error' in info) problems.push({ path: `${path}.module`, message: info.error });
      else if (!info.exports.includes(e.export)) {
        problems.push({
          path: `${path}.export`,
          message: `"${info.path}" has no function export "${e.export}"` +
            (info.exports.length ? ` (it exports: ${info.exports.join(', ')})` : info.note ? ` (${info.note})` : ''),
        });
      }
    }
  }
  // A step that did not parse still names its needs: an unknown one is a problem of its own.
  for (const id of allIds) {
    if (Object.hasOwn(steps, id)) continue;
    const rawNeeds = ((raw['steps'] as Record<string, unknown>)[id] as { needs?: unknown } | null)?.needs;
    if (!Array.isArray(rawNeeds)) continue;
    rawNeeds.forEach((need: unknown, i) => {
      if (typeof need === 'string' && need !== id && !allIds.has(need)) problems.push({ path: `steps.${id}.needs[${i}]`, message: `unknown step "${need}"${suggest(need, allIds)}` });
    });
  }
  problems.push(...catchProblems(steps, allIds));
  const needs = new Map<string, string[]>();
  for (const [id, step] of Object.entries(steps)) needs.set(id, step.needs.filter((n) => known.has(n) && n !== id));
  // A catch step comes after the step it catches.
  for (const [id, h] of catchers(steps)) if (h !== id) needs.get(h)!.push(id);
  const { cyclic } = topoOrder(needs);
  if (cyclic.length > 0) {
    const cycle = findCycle(needs, cyclic);
    problems.push({ path: 'steps', message: `cycle: ${cycle.join(' -> ')} (members: ${[...new Set(cycle)].join(', ')})` });
  } else problems.push(...waitSkipProblems(steps, skippableSteps(steps)));
  const output = raw['output'];
  if (typeof output === 'string' && !allIds.has(output)) {
    problems.push({ path: 'output', message: `unknown step "${output}"${suggest(output, allIds)}` });
  }
  return problems;
}

/** `wait: any | {quorum}` needs needs to wait for, no more of them than there are, and no forEach. */
function waitProblems(id: string, step: StepSpec): Problem[] {
  const wait = step.wait;
  if (wait === undefined || wait === 'all') return [];
  const path = `steps.${id}.wait`;
  const problems: Problem[] = [];
  const n = step.needs.length;
  if (n === 0) problems.push({ path, message: 'a step without needs starts with the run: there is nothing to wait for' });
  else if (typeof wait === 'object' && wait.quorum > n) {
    problems.push({ path: `${path}.quorum`, message: `waits for ${wait.quorum} of its needs, but it has ${n}` });
  }
  if (step.forEach !== undefined) {
    const over = typeof step.forEach === 'string' ? step.forEach : step.forEach.step;
    problems.push({ path, message: `a forEach step fans out over the output of "${over}", so it waits for all of its needs: drop "wait"` });
  }
  return problems;
}

/** Sizing and fallback belong to `auto` steps; an auto step must fit Lambda or Batch. */
function placementProblems(id: string, step: StepSpec): Problem[] {
  const where = `steps.${id}`;
  const type = step.executor.type;
  if (type === 'auto') {
    const decision = place(step.resources, step.timeoutMs);
    return 'problem' in decision ? [{ path: `${where}.resources`, message: decision.problem }] : [];
  }
  const problems: Problem[] = [];
  for (const field of ['memoryMb', 'vcpus', 'gpus'] as const) {
    if (step.resources?.[field] === undefined) continue;
    problems.push({
      path: `${where}.resources.${field}`,
      message: `places "executor: auto" steps only; a ${type} step cannot use it` +
        (type === 'batch' ? ' (a batch step sizes its job with executor.vcpus / memoryMb / gpus)' : ' (only expectedSeconds applies to it)'),
    });
  }
  if (step.fallback !== undefined) {
    problems.push({
      path: `${where}.fallback`,
      message: `"fallback: batch" needs a container image to run the step on AWS Batch, and a ${type} step has none: ` +
        'use executor {type: auto, module, export, image, command} (its Lambda-placed attempts fall back to Batch after a timeout)',
    });
  }
  return problems;
}

function zodProblems(error: z.ZodError, prefix: string, input?: unknown): Problem[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : pathKey(p)))]
      .filter(Boolean)
      .join('.')
      .replace(/\.\[/g, '[');
    return { path, message: issueMessage(issue, input) + givenDiscriminator(issue, input) + quoteHint(issue, input) };
  });
}

/** A number where a string is expected (a step id `1` in YAML's `needs: [1]`, a command argument): how to write it as one. */
function quoteHint(issue: z.core.$ZodIssue, input: unknown): string {
  if (issue.code !== 'invalid_type' || issue.expected !== 'string') return '';
  const value = valueAt(input, issue.path);
  return typeof value === 'number' ? ` (in YAML, write it in quotes for a string: '${value}')` : '';
}

/** For an unknown `type` (a discriminator), what was written and the nearest valid one: zod says only what is valid. */
export function givenDiscriminator(issue: z.core.$ZodIssue, input: unknown): string {
  const options = (issue as { options?: unknown }).options;
  if (issue.code !== 'invalid_union' || !Array.isArray(options) || input === undefined) return '';
  const value = valueAt(input, issue.path);
  if (value === undefined) return '';
  if (typeof value !== 'string') return `; got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`}`;
  return `; got ${JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)}${suggest(value, options.filter((o): o is string => typeof o === 'string'))}`;
}

/** Longest name "did you mean" compares by edit distance, which is quadratic: the longest step id. */
const MAX_SUGGEST_LENGTH = 200;

/** ` (did you mean "X"?)` for the id of `ids` nearest to a mistyped `name`, or ''. */
export function suggest(name: string, ids: Iterable<string>): string {
  const lower = name.toLowerCase();
  const tolerance = name.length > MAX_SUGGEST_LENGTH ? 0 : Math.min(2, Math.floor(name.length / 4));
  // The same name in another case first ("nodeb" -> "nodeB", not "nodeA" one edit away), else the nearest.
  let best: string | undefined;
  let bestDistance = tolerance + 1;
  for (const id of ids) {
    if (id.toLowerCase() === lower) return ` (did you mean "${id}"?)`;
    if (tolerance === 0) continue;
    const d = distance(id, name);
    if (d < bestDistance) [best, bestDistance] = [id, d];
  }
  return best === undefined ? '' : ` (did you mean "${best}"?)`;
}

/** Edits from a to b: insertions, deletions, substitutions, and swaps of two neighbours ("Fial"). */
function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      row.push(d);
    }
    [before, prev] = [prev, row];
  }
  return prev[b.length]!;
}

/** Deepest nesting a simulated output may have (JSON.stringify runs out of stack in the thousands). */
const MAX_OUTPUT_DEPTH = 128;

/**
 * Why `value` cannot be written into a plan as JSON — a cycle, nesting deeper than
 * MAX_OUTPUT_DEPTH, a bigint, function or symbol, NaN or Infinity, a Date, Map, Set or other class
 * instance — with the path inside it; undefined when it can. Iterative, so depth cannot overflow it.
 */
function jsonProblem(value: unknown): { at: string; message: string } | undefined {
  // Shared (not cyclic) objects are walked again only when met deeper than before.
  const walkedAt = new Map<object, number>();
  const onPath = new Set<object>();
  const stack: Array<{ value: unknown; at: string; depth: number } | { leave: object }> = [{ value, at: '', depth: 0 }];
  while (stack.length > 0) {
    const top = stack.pop()!;
    if ('leave' in top) {
      onPath.delete(top.leave);
      continue;
    }
    const { value: v, at, depth } = top;
    if (v === null || v === undefined || typeof v === 'string' || typeof v === 'boolean') continue;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return { at, message: `${v} is not a JSON number` };
      continue;
    }
    if (typeof v !== 'object') return { at, message: `a ${typeof v} is not a JSON value` };
    if (onPath.has(v)) return { at, message: 'refers back to itself: a cycle cannot be written as JSON' };
    if (depth >= MAX_OUTPUT_DEPTH) return { at, message: `is nested more than ${MAX_OUTPUT_DEPTH} levels deep` };
    if ((walkedAt.get(v) ?? -1) >= depth) continue;
    const proto = Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null;
    if (!Array.isArray(v) && proto !== Object.prototype && proto !== null) {
      return { at, message: `a ${proto?.constructor?.name ?? 'class instance'} is not a JSON value: use plain objects and arrays` };
    }
    walkedAt.set(v, depth);
    onPath.add(v);
    stack.push({ leave: v });
    if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], at: `${at}[${i}]`, depth: depth + 1 });
    else for (const k of Object.keys(v).reverse()) stack.push({ value: (v as Record<string, unknown>)[k], at: `${at}.${k}`, depth: depth + 1 });
  }
  return undefined;
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.path}\u0000${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
