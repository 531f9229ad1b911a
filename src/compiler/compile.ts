/**
 * Workflow -> TriggerPlan. Pure: the same input always gives a byte-identical plan, so
 * triggers/*.json can be committed and checked for staleness.
 */
import path from 'node:path/posix';
import { DetailType, JOINFLOW_SOURCE } from '../model/events.ts';
import { WorkflowDefinitionError } from '../model/errors.ts';
import type { EventPattern, PlanStep, Trigger, TriggerPlan } from '../model/plan.ts';
import type { Subscription } from '../model/subscriptions.ts';
import type { ExecutorSpec, RetrySpec, Workflow } from '../model/workflow.ts';
import { resolveAuto } from './auto-steps.ts';
import { catchers, skippableSteps } from './choices.ts';
import { dagStats, sinks } from './graph.ts';
import { validateWorkflow, type ModuleInfo } from './validate.ts';

export type CompileOptions = {
  /** The workflow file relative to the project root (posix); recorded in the plan. */
  source: string;
  /** Handler modules as resolved by the loader; their `path` replaces the written module. */
  modules?: Readonly<Record<string, ModuleInfo>>;
};

/** Internal trigger ids start with `$`, which step ids cannot. */
export const TriggerId = {
  collect: (step: string) => `$collect:${step}`,
  window: (step: string) => `$window:${step}`,
  lost: (step: string) => `$lost:${step}`,
  retry: '$retry',
  fail: '$fail',
  succeed: '$succeed',
} as const;

const NO_RETRY: RetrySpec = { maxAttempts: 1, backoffMs: 100, factor: 2, maxDelayMs: 30_000 };

/**
 * Validates `input` and compiles it; throws WorkflowDefinitionError listing every problem.
 * Without options (a definition that has no file), its paths are relative to the project root.
 */
export function compileWorkflow(input: unknown, options: CompileOptions = { source: '' }): TriggerPlan {
  const checked = validateWorkflow(input, options.modules ? { modules: options.modules } : {});
  if (!checked.workflow) throw new WorkflowDefinitionError(checked.problems, options.source);
  return planFor(checked.workflow, options);
}

function planFor(wf: Workflow, options: CompileOptions): TriggerPlan {
  const steps: Record<string, PlanStep> = {};
  // Paths in a workflow file are relative to that file; the plan records them relative to the
  // project root so that it is the same on every machine.
  const modulePath = (module: string): string => {
    const info = options.modules?.[module];
    return info && 'path' in info ? info.path : fromSource(options.source, module);
  };
  for (const [id, s] of Object.entries(wf.steps)) {
    if (s.executor.type === 'auto') {
      const { executor, timeoutMs, ...placed } = resolveAuto(s, s.executor, { module: modulePath, cwd: (cwd) => fromSource(options.source, cwd) });
      steps[id] = { ...planStep(s, executor, timeoutMs), ...placed };
      continue;
    }
    let executor = s.executor;
    if (executor.type === 'function') {
      executor = { ...executor, module: modulePath(executor.module) };
    } else if (executor.type === 'process') {
      executor = { ...executor, cwd: fromSource(options.source, executor.cwd ?? '.') };
    } else if (executor.type === 'batch' && executor.local) {
      executor = { ...executor, local: { ...executor.local, cwd: fromSource(options.source, executor.local.cwd ?? '.') } };
    } else if (executor.type === 'container') {
      executor = {
        ...executor,
        ...(executor.module === undefined ? {} : { module: modulePath(executor.module) }),
        cwd: fromSource(options.source, executor.cwd ?? '.'),
      };
    }
    const expected = s.resources?.expectedSeconds;
    steps[id] = { ...planStep(s, executor, s.timeoutMs), ...(expected === undefined ? {} : { expectedSeconds: expected }) };
  }
  // Catching: a catch step comes after the step it catches, which it takes as its only need.
  const caught = catchers(wf.steps);
  for (const [id, h] of caught) {
    steps[id]!.catch = h;
    steps[h]!.needs = [id];
    steps[h]!.catches = id;
  }
  // Choices: which steps may end without a result, and which hear so of their needs.
  const skippable = skippableSteps(wf.steps);
  for (const s of Object.values(steps)) if (s.needs.some((n) => skippable.has(n))) s.needsMaySkip = true;
  const needs = new Map(Object.entries(steps).map(([id, s]) => [id, s.needs]));
  const ends = sinks(needs);
  const fatal = fatalSteps(steps, ends, wf.output);
  // A caught failure does not fail the run (the steps a caught step needs still do).
  for (const id of caught.keys()) fatal.delete(id);
  const spared = new Set(Object.keys(steps).filter((id) => !fatal.has(id)));
  const triggers: Trigger[] = [];
  for (const [id, s] of Object.entries(steps)) {
    triggers.push({
      id,
      activation: s.needs.length === 0 ? runRequested(wf.name) : completed(wf.name, s.needs, false, skippable, caught),
      condition: { type: 'join', need: s.needs.length === 0 ? 1 : (s.quorum ?? s.needs.length), key: s.needs.length === 0 ? 'run' : 'step' },
      action: { type: 'dispatch', step: id },
    });
    // Once more of its needs failed than it can do without (one, unless it waits for some of
    // them), the step can never start: it fails the run, or, when the run can still succeed
    // without it, fails itself (its failure counting in turn for the steps that need it). Only
    // the needs whose failure does not fail the run at once come here.
    const lost = s.needs.filter((n) => spared.has(n) && !caught.has(n));
    const spare = s.quorum === undefined ? 0 : s.needs.length - s.quorum;
    if (lost.length > spare) {
      triggers.push({
        id: TriggerId.lost(id),
        activation: failed(wf.name, false, { step: lost }),
        condition: { type: 'join', need: spare + 1, key: 'step' },
        action: fatal.has(id) ? { type: 'fail-run' } : { type: 'lose', step: id },
      });
    }
    if (s.forEach) {
      triggers.push({
        id: TriggerId.collect(id),
        activation: completed(wf.name, [id], true),
        condition: { type: 'join', need: 'dynamic', key: 'item' },
        action: { type: 'collect', step: id },
      });
      if (s.forEach.maxConcurrency !== undefined) {
        triggers.push({
          id: TriggerId.window(id),
          // Each item's result starts the item maxConcurrency places after it. An item that fails
          // for good fails the step (its collect never fires): the items it holds back never start.
          activation: completed(wf.name, [id], true),
          condition: { type: 'always', key: 'item' },
          action: { type: 'release', step: id },
        });
      }
    }
  }
  triggers.push(
    {
      id: TriggerId.succeed,
      activation: completed(wf.name, ends, false, skippable, caught),
      condition: { type: 'join', need: ends.length, key: 'step' },
      action: { type: 'succeed-run' },
    },
    {
      id: TriggerId.retry,
      activation: failed(wf.name, true),
      // One retry per (step, item, attempt), however often the failure is delivered.
      condition: { type: 'always', key: 'attempt' },
      action: { type: 'retry' },
    },
    {
      id: TriggerId.fail,
      // Not for the spared steps: their failures count toward the $lost triggers of the steps after them.
      activation: failed(wf.name, false, failing(fatal, spared)),
      // The first failure for good fails the run; later ones change nothing.
      condition: { type: 'join', need: 1, key: 'step' },
      action: { type: 'fail-run' },
    },
  );
  const allSimulated = Object.values(steps).every((s) => s.executor.type === 'simulate');
  const stats = dagStats(
    needs,
    (id) => {
      const e = steps[id]!.executor;
      return e.type === 'simulate' ? e.durationMs : 0;
    },
    (id) => steps[id]!.quorum,
  );
  return {
    version: 1,
    workflow: wf.name,
    source: options.source,
    steps,
    triggers,
    output: wf.output === undefined ? { sinks: ends } : { step: wf.output },
    stats: {
      steps: needs.size,
      edges: stats.edges,
      depth: stats.depth,
      criticalPathMs: allSimulated ? stats.criticalPath : null,
    },
    // Only present when declared, so that plans without subscriptions stay byte-identical.
    ...(wf.subscriptions && Object.keys(wf.subscriptions).length > 0 ? { subscriptions: scoped(wf) } : {}),
  };
}

/**
 * A workflow's own subscriptions see only its events: `source` and `detail.workflow` are added to
 * their patterns unless the author set them.
 */
function scoped(wf: Workflow): Subscription[] {
  return Object.entries(wf.subscriptions ?? {}).map(([name, spec]) => {
    const pattern: Record<string, unknown> = { ...spec.pattern };
    if (!('source' in pattern)) pattern['source'] = [JOINFLOW_SOURCE];
    const detail = pattern['detail'];
    if (detail === undefined) pattern['detail'] = { workflow: [wf.name] };
    else if (typeof detail === 'object' && detail !== null && !Array.isArray(detail) && !('workflow' in detail)) {
      pattern['detail'] = { ...detail, workflow: [wf.name] };
    }
    return { name: `${wf.name}.${name}`, workflow: wf.name, pattern, target: spec.target };
  });
}

/** A plan step's common fields, in the order committed plans have them (they are compared as text). */
function planStep(s: Workflow['steps'][string], executor: ExecutorSpec, timeoutMs: number | undefined): PlanStep {
  return {
    needs: s.needs,
    executor,
    retry: s.retry ?? NO_RETRY,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(s.delayMs ? { delayMs: s.delayMs } : {}),
    ...(s.forEach === undefined ? {} : { forEach: typeof s.forEach === 'string' ? { step: s.forEach } : s.forEach }),
    ...(s.files === undefined ? {} : { files: s.files }),
    ...(quorumOf(s) === undefined ? {} : { quorum: quorumOf(s) }),
    ...(s.when === undefined ? {} : { when: s.when }),
  };
}

/** How many needs a step waits for, when fewer than all of them. */
function quorumOf(s: Workflow['steps'][string]): number | undefined {
  const k = s.wait === 'any' ? 1 : typeof s.wait === 'object' ? s.wait.quorum : undefined;
  return k !== undefined && k < s.needs.length ? k : undefined;
}

function runRequested(workflow: string): EventPattern {
  return { source: [JOINFLOW_SOURCE], 'detail-type': [DetailType.RunRequested], detail: { workflow: [workflow] } };
}

/**
 * Step Completed of `steps` (of their items, or not); Step Skipped too when one of them may be
 * skipped; and the failure for good of those whose failure is caught (each ends one of these ways).
 */
function completed(workflow: string, steps: string[], items: boolean, skippable?: ReadonlySet<string>, caught?: ReadonlyMap<string, string>): EventPattern {
  const skips = skippable !== undefined && steps.some((s) => skippable.has(s));
  const types = skips ? [DetailType.StepCompleted, DetailType.StepSkipped] : [DetailType.StepCompleted];
  const failing = caught === undefined ? [] : steps.filter((s) => caught.has(s));
  if (failing.length > 0) {
    // No path is in both the pattern and an alternative (EventBridge merges each alternative into the rest).
    return {
      source: [JOINFLOW_SOURCE],
      detail: { workflow: [workflow], item: [{ exists: items }] },
      $or: [
        { 'detail-type': types, detail: { step: steps } },
        { 'detail-type': [DetailType.StepFailed], detail: { step: failing, retrying: [false] } },
      ],
    };
  }
  return {
    source: [JOINFLOW_SOURCE],
    'detail-type': types,
    // Item completions count only toward their forEach step's collect trigger.
    detail: { workflow: [workflow], step: steps, item: [{ exists: items }] },
  };
}

function failed(workflow: string, retrying: boolean, more: Record<string, unknown> = {}): EventPattern {
  return {
    source: [JOINFLOW_SOURCE],
    'detail-type': [DetailType.StepFailed],
    detail: { workflow: [workflow], ...more, retrying: [retrying] },
  };
}

/**
 * The steps whose failure for good fails the run at once: the sinks, the workflow's output, and
 * every step that a step of these needs in full (not with `wait: any | {quorum}`). The failure
 * of any other step (a *spared* one) leaves the run able to succeed: it counts toward the
 * $lost triggers of the steps after it. Without `wait` every step is fatal.
 */
function fatalSteps(steps: Record<string, PlanStep>, ends: readonly string[], output: string | undefined): Set<string> {
  const fatal = new Set<string>(ends);
  if (output !== undefined) fatal.add(output);
  // Walk needs backwards from the fatal steps, through full joins only.
  const todo = [...fatal];
  while (todo.length > 0) {
    const s = steps[todo.pop()!]!;
    if (s.quorum !== undefined) continue;
    for (const n of s.needs) {
      if (fatal.has(n)) continue;
      fatal.add(n);
      todo.push(n);
    }
  }
  return fatal;
}

/** $fail's step filter: none when every step is fatal, else the shorter of the two lists. */
function failing(fatal: ReadonlySet<string>, spared: ReadonlySet<string>): Record<string, unknown> {
  if (spared.size === 0) return {};
  return spared.size <= fatal.size ? { step: [{ 'anything-but': [...spared] }] } : { step: [...fatal] };
}

/** The plan as written to triggers/<workflow>.json: stable formatting, trailing newline. */
export function serializePlan(plan: TriggerPlan): string {
  return `${JSON.stringify(plan, null, 2)}\n`;
}

function fromSource(source: string, relative: string): string {
  if (path.isAbsolute(relative)) return relative;
  return path.normalize(path.join(path.dirname(source), relative));
}
