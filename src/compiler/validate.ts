/**
 * Workflow validation: schema problems per step plus graph problems (unknown needs, cycles,
 * forEach over a non-predecessor, missing handlers), all collected with their paths.
 */
import type { z } from 'zod';
import { type Problem } from '../model/errors.ts';
import { STEP_ID_PATTERN, StepSchema, WorkflowSchema, type StepSpec, type Workflow } from '../model/workflow.ts';
import { findCycle, topoOrder } from './graph.ts';

/** What the loader found for each handler module a workflow names (resolved before compiling). */
export type ModuleInfo = { path: string; exports: readonly string[] } | { error: string };

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
      if (!STEP_ID_PATTERN.test(id)) {
        problems.push({
          path: where,
          message: 'step ids must be 1-200 characters of letters, digits, "_", ".", ":" or "-", not starting with "." ":" or "-"',
        });
      }
      const parsed = StepSchema.safeParse((rawSteps as Record<string, unknown>)[id]);
      if (parsed.success) steps[id] = parsed.data;
      else problems.push(...zodProblems(parsed.error, where));
    }
  }
  const top = WorkflowSchema.safeParse({ ...raw, steps: {} });
  if (!top.success) problems.push(...zodProblems(top.error, ''));
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
    if (step.forEach !== undefined) {
      const over = typeof step.forEach === 'string' ? step.forEach : step.forEach.step;
      if (!step.needs.includes(over)) {
        problems.push({
          path: `steps.${id}.forEach`,
          message: `fans out over "${over}", which is not a predecessor of "${id}": add it to needs`,
        });
      }
    }
    const e = step.executor;
    if (e.type === 'container' && (e.module === undefined) === (e.command === undefined)) {
      problems.push({ path: `steps.${id}.executor`, message: 'a container step runs either a handler "module" or a "command": give exactly one' });
    }
    const module = e.type === 'function' || e.type === 'container' ? e.module : undefined;
    if (module !== undefined && (e.type === 'function' || e.type === 'container') && options.modules) {
      const info = options.modules[module];
      const path = `steps.${id}.executor`;
      if (!info) problems.push({ path: `${path}.module`, message: `handler module "${module}" was not resolved` });
      else if ('error' in info) problems.push({ path: `${path}.module`, message: info.error });
      else if (!info.exports.includes(e.export)) {
        problems.push({
          path: `${path}.export`,
          message: `"${info.path}" has no function export "${e.export}"` +
            (info.exports.length ? ` (it exports: ${info.exports.join(', ')})` : ''),
        });
      }
    }
  }
  const needs = new Map<string, string[]>();
  for (const [id, step] of Object.entries(steps)) needs.set(id, step.needs.filter((n) => known.has(n) && n !== id));
  const { cyclic } = topoOrder(needs);
  if (cyclic.length > 0) {
    const cycle = findCycle(needs, cyclic);
    problems.push({ path: 'steps', message: `cycle: ${cycle.join(' -> ')} (members: ${[...new Set(cycle)].join(', ')})` });
  }
  const output = raw['output'];
  if (typeof output === 'string' && !allIds.has(output)) {
    problems.push({ path: 'output', message: `unknown step "${output}"${suggest(output, allIds)}` });
  }
  return problems;
}

function zodProblems(error: z.ZodError, prefix: string): Problem[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))]
      .filter(Boolean)
      .join('.')
      .replace(/\.\[/g, '[');
    return { path, message: issue.message };
  });
}

function suggest(name: string, ids: Set<string>): string {
  const lower = name.toLowerCase();
  const tolerance = Math.min(2, Math.floor(name.length / 4));
  for (const id of ids) if (id.toLowerCase() === lower || (tolerance > 0 && distance(id, name) <= tolerance)) return ` (did you mean "${id}"?)`;
  return '';
}

function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
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
