/** Builds the tasks a step's dispatch hands to executors, from the run's stored input and results. */
import type { PlanStep, TriggerPlan } from '../model/plan.ts';
import type { RunRecord, Task } from '../ports.ts';
import { maxAttempts } from './fallback.ts';
import type { StoreNow } from './replay.ts';

/** Store key of a step's result, or of one item's result in a fan-out. */
export function resultKey(step: string, item?: number): string {
  return item === undefined ? step : `${step}#${item}`;
}

/** Store key of the note that a choice skipped `step` (its reason): what `status` reads on AWS. Step ids cannot start with `$`. */
export function skippedKey(step: string): string {
  return `$skipped:${step}`;
}

/** Store key of the failure a catch step caught (`{step, type, message}`): its task's `error`. */
export function caughtKey(step: string): string {
  return `$caught:${step}`;
}

/**
 * Store key of the note that `step` (or one item of it) failed for good (`{type, message}`):
 * what `status` reads on AWS, where a failure that does not fail the run leaves no other trace.
 */
export function failedKey(step: string, item?: number): string {
  return `$failed:${resultKey(step, item)}`;
}

/** What a store key holds, for people: `the result of step "a" (item 3)`, `the failure of step "a"`. */
export function describeResultKey(key: string): string {
  const m = /^(?:\$(failed|skipped|caught):)?([^#]+)(?:#(\d+))?$/.exec(key);
  if (!m) return `the value stored as "${key}"`;
  const step = `step "${m[2]}"${m[3] === undefined ? '' : ` (item ${m[3]})`}`;
  const what = m[1] === 'failed' ? 'the failure of' : m[1] === 'skipped' ? 'why a choice skipped' : m[1] === 'caught' ? 'the caught failure of' : 'the result of';
  return `${what} ${step}`;
}

/**
 * Whether a step (or one item of it) has its result: a dispatch taken over need not send it
 * again, and a failure of it is a duplicate's. Asks which keys are saved (savedKeys): the value
 * is not read, which on DynamoDB would be an S3 GET of a claim-checked result.
 */
export function done(store: StoreNow, runId: string, step: string, item: number | undefined): boolean {
  return store.savedKeys(runId, [resultKey(step, item)]).size > 0;
}

/** The items of a forEach of `width` items that have their results (their values not read, as in `done`). */
export function doneItems(store: StoreNow, runId: string, step: string, width: number): Set<number> {
  const found = store.savedKeys(runId, Array.from({ length: width }, (_, i) => resultKey(step, i)));
  const items = new Set<number>();
  for (let i = 0; i < width; i++) if (found.has(resultKey(step, i))) items.add(i);
  return items;
}

/** The widest forEach an engine dispatches, and why (what to do about a wider one). */
export type Widest = { items: number; why: string };

/** Why a forEach's items cannot be dispatched (not an array, wider than the engine runs), or undefined. */
export function unfit(step: string, fan: { items: unknown[] } | { error: string }, widest: Widest | undefined): { type: string; message: string } | undefined {
  if ('error' in fan) return { type: 'ForEachNotArray', message: `step "${step}": ${fan.error}` };
  if (widest === undefined || fan.items.length <= widest.items) return undefined;
  const n = (x: number) => x.toLocaleString('en-US');
  return { type: 'ForEachTooWide', message: `step "${step}": a forEach over ${n(fan.items.length)} items, more than this engine runs (at most ${n(widest.items)}: ${widest.why})` };
}

/** Reads `path` (dot-separated) inside a value. */
export function pick(value: unknown, path: string | undefined): unknown {
  if (!path) return value;
  let cur = value;
  for (const k of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/**
 * The results a step receives: its predecessors' outputs (without the one it fans out over).
 * `values`: its needs' values when the event has read them already (whenValues), not read again.
 */
export function stepResults(store: StoreNow, runId: string, step: PlanStep, values?: Map<string, unknown>): Record<string, unknown> {
  // A forEach step's items get their element as `item`; repeating the whole array in every
  // item's event would make a fan-out of N cost O(N^2).
  const keys = step.forEach ? step.needs.filter((n) => n !== step.forEach!.step) : step.needs;
  if (keys.length === 0) return {};
  const found = values ?? store.getResults(runId, keys);
  // Without a prototype the object starts as a dictionary: keyed by step names, which are
  // different for most steps, an ordinary object would need a hidden class per set of names
  // (bench/README.md: 15-20 % of the memory engine's time per Epigenomics task). Serialized, and as
  // handlers receive it (a structured clone), it is an ordinary object.
  const results: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const k of keys) {
    // A saved result is never undefined: undefined is a need that had not completed when a step
    // waiting for some of its needs (`quorum`) started, and it gets none.
    // Nor does a need that was skipped (a choice).
    const v = found.get(k);
    if (v !== undefined) results[k] = v;
    else if (step.quorum === undefined && !step.needsMaySkip) results[k] = null;
  }
  return results;
}

/**
 * The array a forEach step fans out over, or an error message naming what was found instead.
 * `values`: its needs' values (among them the step it fans out over) when the event has read them.
 */
export function fanOutItems(store: StoreNow, runId: string, step: PlanStep, values?: Map<string, unknown>): { items: unknown[] } | { error: string } {
  const over = step.forEach!;
  const found = values ?? store.getResults(runId, [over.step]);
  const value = pick(found.get(over.step), over.path);
  if (Array.isArray(value)) return { items: value };
  const where = over.path ? `"${over.step}" output at "${over.path}"` : `the output of "${over.step}"`;
  return { error: `forEach needs an array, but ${where} is ${describe(value)}` };
}

/**
 * One task of a step (or of one item) at an attempt. `on: 'fallback'` runs it on the step's
 * Batch fallback, which has no Lambda timeout and one attempt more (runtime/fallback.ts).
 */
export function makeTask(
  plan: TriggerPlan,
  run: RunRecord,
  step: string,
  attempt: number,
  results: Record<string, unknown>,
  item?: { index: number; value: unknown },
  on: 'primary' | 'fallback' = 'primary',
): Task {
  const spec = plan.steps[step]!;
  const fallback = on === 'fallback' ? spec.fallback : undefined;
  const placement = fallback?.target ?? spec.placement?.target;
  // Built field by field (no spreads): once per task. Field order is the logged JSON's order.
  const task: Task = item
    ? { workflow: plan.workflow, runId: run.runId, step, item: item.index, attempt, maxAttempts: 0, executor: spec.executor, event: { input: run.input, results, item: item.value, index: item.index } }
    : { workflow: plan.workflow, runId: run.runId, step, attempt, maxAttempts: 0, executor: spec.executor, event: { input: run.input, results } };
  task.maxAttempts = maxAttempts(spec, fallback !== undefined);
  if (fallback) task.executor = fallback.executor;
  if (spec.timeoutMs !== undefined && !fallback) task.timeoutMs = spec.timeoutMs;
  if (placement !== undefined) task.placement = placement;
  // A placed step's handler, run in the embedded engine's function pool, gets the memory it has there.
  if (spec.placement !== undefined && task.executor.type === 'function') task.memoryMb = spec.placement.memoryMb;
  if (spec.fallback && !fallback) task.fallback = 'batch';
  if (spec.files !== undefined) task.files = spec.files;
  // Only a handler is told when its run started (its context; ASL's $$.Execution.StartTime).
  if ('module' in task.executor && task.executor.module !== undefined) task.runStartedAt = run.startedAt;
  const params = spec.executor.type === 'function' ? spec.executor.params : undefined;
  if (params !== undefined) (task.event as { params?: unknown }).params = params;
  return task;
}

/** Exponential backoff before attempt `attempt + 1`. */
export function retryDelay(step: PlanStep, attempt: number): number {
  const { backoffMs, factor, maxDelayMs } = step.retry;
  return Math.min(backoffMs * factor ** (attempt - 1), maxDelayMs);
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  let json: string;
  try {
    json = JSON.stringify(value) ?? String(value);
  } catch {
    // Too deep (or cyclic) to print: the type is enough to say what is wrong.
    json = Array.isArray(value) ? '[...]' : '{...}';
  }
  return `${typeof value} ${json.length > 60 ? `${json.slice(0, 57)}...` : json}`;
}
