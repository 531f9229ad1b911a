/**
 * Runs ASL states: one state at a time (what most imported steps do), or a whole scope from a
 * state until it ends or leaves a set of states (a Map's item processor, a loop). Pure but for
 * the task functions it calls and the clock it sleeps on.
 */
import { matches } from './choice.ts';
import type { Catcher, Retrier, Scope, State } from './machine.ts';
import { applyTemplate, evalExpression, getPath, selectPath, setPath, StatesError } from './paths.ts';
import { describe } from './states-error.ts';
import { parseTimestamp } from './timestamps.ts';

/** A task implementation: Lambda-style, `(event, context) => result`. */
export type TaskFunction = (event: unknown, context: Record<string, unknown>) => unknown;

export type RunContext = {
  /** The task functions, by Lambda function name or Task state name. */
  tasks: Readonly<Record<string, TaskFunction>>;
  execution: { Id: string; Input: unknown; Name: string; StartTime: string };
  stateMachine: { Id: string; Name: string };
  map?: { Item: { Index: number; Value: unknown } };
  /** Resolves after `ms`; `signal` aborted first, it never does (and holds no timer). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
};

/** Where a state goes: the next state, or the end of its scope (`next: null`), with its output. */
export type Step = { next: string | null; output: unknown };

/** Transitions one scope run may take before it is stopped (Step Functions stops at 25,000 history events). */
export const MAX_TRANSITIONS = 10_000;

/** The ASL error name of anything thrown: a StatesError's name, or a task error's class name. */
export function errorName(error: unknown): string {
  if (error instanceof StatesError) return error.error;
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === 'string' && name !== '' ? name : 'Error';
}

export function errorCause(error: unknown): string {
  if (error instanceof StatesError) return error.detail;
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(error);
}

/** Whether an ErrorEquals list matches an error; States.ALL does not match the terminal States.Runtime. */
export function errorMatches(list: readonly string[], name: string): boolean {
  if (name === 'States.Runtime' || name === 'States.DataLimitExceeded') return list.includes(name);
  return list.some((e) => e === name || e === 'States.ALL' || (e === 'States.TaskFailed' && name !== 'States.Timeout' && !name.startsWith('States.')));
}

/** The context object (`$$`) of state `name`. */
export const contextObject = (ctx: RunContext, name: string, retryCount: number): unknown => ({
  Execution: ctx.execution,
  StateMachine: ctx.stateMachine,
  State: { Name: name, EnteredTime: new Date().toISOString(), RetryCount: retryCount },
  ...(ctx.map ? { Map: ctx.map } : {}),
});

const inputPath = (st: State, input: unknown, cx: unknown): unknown =>
  st['InputPath'] === null ? {} : st['InputPath'] === undefined ? input : selectPath(st['InputPath'] as string, input, cx);
const outputPath = (st: State, value: unknown, cx: unknown): unknown =>
  st['OutputPath'] === null ? {} : st['OutputPath'] === undefined ? value : selectPath(st['OutputPath'] as string, value, cx);
/** ResultSelector, then ResultPath into the raw input, then OutputPath. */
export function finish(st: State, input: unknown, result: unknown, cx: unknown): unknown {
  const selected = st['ResultSelector'] === undefined ? result : applyTemplate(st['ResultSelector'], result, cx);
  const placed = setPath(st['ResultPath'] === undefined ? '$' : (st['ResultPath'] as string | null), input, selected);
  return outputPath(st, placed, cx);
}

/** A Parallel's or Map's effective input (InputPath, then Parameters for a Parallel). */
export function effectiveInput(st: State, input: unknown, cx: unknown): unknown {
  const eff = inputPath(st, input, cx);
  return st['Type'] !== 'Map' && st['Parameters'] !== undefined ? applyTemplate(st['Parameters'], eff, cx) : eff;
}

/** A Map's items, each as its item processor receives it (after ItemSelector/Parameters). */
export function mapItems(st: State, input: unknown, ctx: RunContext, name: string): unknown[] {
  const cx = contextObject(ctx, name, 0);
  const eff = inputPath(st, input, cx);
  const items = getPath((st['ItemsPath'] as string | undefined) ?? '$', eff, cx);
  if (!Array.isArray(items)) throw new StatesError('States.Runtime', `the Map state "${name}" needs an array at ItemsPath ${(st['ItemsPath'] as string | undefined) ?? '$'}, not ${typeof items}`);
  const selector = st['ItemSelector'] ?? st['Parameters'];
  if (selector === undefined) return items;
  return items.map((value, index) => applyTemplate(selector, eff, { ...(cx as object), Map: { Item: { Index: index, Value: value } } }));
}

/**
 * The export that implements a Lambda function: its name in a function ARN (without a version or
 * alias), and for a template placeholder such as \${orderFunction} (SAM, CDK) the variable's name.
 */
export function functionName(ref: string): string {
  const placeholder = /^\$\{([^}]+)\}$/.exec(ref);
  if (placeholder) return placeholder[1]!;
  return /:function:([^:]+)/.exec(ref)?.[1] ?? ref;
}

/**
 * The export names a Task's function is looked up by, in order: a Lambda function's name (for
 * lambda:invoke, of `functionRef`, its FunctionName), else the state's name (a `module:Name`
 * resource's Name first). None when lambda:invoke's FunctionName is not a string (known at run time).
 */
export function taskKeys(name: string, st: State, functionRef: unknown): string[] {
  const resource = st['Resource'] as string;
  if (resource === 'arn:aws:states:::lambda:invoke') return typeof functionRef === 'string' ? [functionName(functionRef)] : [];
  if (/^arn:aws:lambda:/.test(resource)) return [functionName(resource)];
  return [...(resource.startsWith('module:') ? [resource.slice('module:'.length)] : []), name, resource];
}

/** The function a Task calls, and what it sends (a States.Runtime error when the tasks module lacks it). */
function taskTarget(name: string, st: State, params: unknown, tasks: RunContext['tasks']): { key: string; fn: TaskFunction; payload: unknown; wrap: boolean } {
  const invoke = st['Resource'] === 'arn:aws:states:::lambda:invoke';
  const p = (params ?? {}) as Record<string, unknown>;
  if (invoke && typeof p['FunctionName'] !== 'string') throw new StatesError('States.Runtime', `Task "${name}": FunctionName is ${JSON.stringify(p['FunctionName'])}, not a function name`);
  const keys = taskKeys(name, st, p['FunctionName']);
  // The Invoke API's parameters: without a Payload the function is invoked with an empty event.
  const payload = !invoke ? params : Object.hasOwn(p, 'Payload') ? p['Payload'] : {};
  const wrap = invoke;
  for (const key of keys) {
    const fn = Object.hasOwn(tasks, key) ? tasks[key] : undefined;
    if (typeof fn === 'function') return { key, fn, payload, wrap };
  }
  throw new StatesError('States.Runtime', `Task "${name}" calls ${keys.map((k) => `"${k}"`).join(' or ')}, which the tasks module does not export`);
}

/** Runs one state once: its result, or a thrown error (Retry and Catch are the caller's). */
async function attempt(name: string, st: State, input: unknown, ctx: RunContext, retryCount: number): Promise<Step> {
  const cx = contextObject(ctx, name, retryCount);
  const next = (st['End'] === true ? null : (st['Next'] as string | undefined) ?? null);
  switch (st['Type']) {
    case 'Pass': {
      const eff = inputPath(st, input, cx);
      const result = st['Result'] !== undefined ? st['Result'] : st['Parameters'] !== undefined ? applyTemplate(st['Parameters'], eff, cx) : eff;
      return { next, output: outputPath(st, setPath(st['ResultPath'] === undefined ? '$' : (st['ResultPath'] as string | null), input, result), cx) };
    }
    case 'Task': {
      const eff = inputPath(st, input, cx);
      const params = st['Parameters'] !== undefined ? applyTemplate(st['Parameters'], eff, cx) : eff;
      const { key, fn, payload, wrap } = taskTarget(name, st, params, ctx.tasks);
      const timeout = st['TimeoutSeconds'] as number | undefined;
      let result: unknown;
      // The time-out's timer goes when the task ends first: a long-lived process (joinflow dev) would collect them.
      const done = new AbortController();
      try {
        const call = Promise.resolve(fn(payload, { functionName: key, awsRequestId: `${ctx.execution.Name}:${name}:${retryCount}`, state: name }));
        result = timeout === undefined ? await call : await Promise.race([call, ctx.sleep(timeout * 1000, done.signal).then(() => {
          throw new StatesError('States.Timeout', `Task "${name}" did not finish within ${timeout} s`);
        })]);
      } catch (error) {
        throw lambdaError(st, error);
      } finally {
        done.abort();
      }
      const out = wrap ? { ExecutedVersion: '$LATEST', Payload: result ?? null, StatusCode: 200 } : (result ?? null);
      return { next, output: finish(st, input, out, cx) };
    }
    case 'Choice': {
      const eff = inputPath(st, input, cx);
      const rule = (st['Choices'] as Record<string, unknown>[]).find((r) => matches(r, eff, cx));
      const to = (rule?.['Next'] as string | undefined) ?? (st['Default'] as string | undefined);
      if (to === undefined) throw new StatesError('States.NoChoiceMatched', `no rule of the Choice state "${name}" matched, and it has no Default`);
      return { next: to, output: outputPath(st, eff, cx) };
    }
    case 'Wait': {
      const eff = inputPath(st, input, cx);
      await ctx.sleep(waitMs(name, st, eff, cx));
      return { next, output: outputPath(st, eff, cx) };
    }
    case 'Succeed':
      return { next: null, output: outputPath(st, inputPath(st, input, cx), cx) };
    case 'Fail': {
      const text = (field: 'ErrorPath' | 'CausePath'): string => {
        const v = evalExpression(st[field] as string, input, cx);
        if (typeof v !== 'string') throw new StatesError('States.Runtime', `${field} "${st[field] as string}" of the Fail state "${name}" gives ${describe(v)}, not a string`);
        return v;
      };
      const error = st['ErrorPath'] !== undefined ? text('ErrorPath') : (st['Error'] as string | undefined) ?? 'States.Failed';
      const cause = st['CausePath'] !== undefined ? text('CausePath') : (st['Cause'] as string | undefined) ?? '';
      throw new StatesError(error, cause);
    }
    case 'Parallel': {
      const eff = effectiveInput(st, input, cx);
      const outputs = await Promise.all((st['Branches'] as Scope[]).map((b) => runScope(b, b.StartAt, eff, ctx)));
      return { next, output: finish(st, input, outputs.map((o) => o.output), cx) };
    }
    case 'Map': {
      const items = mapItems(st, input, ctx, name);
      const sub = (st['ItemProcessor'] ?? st['Iterator']) as Scope;
      const limit = (st['MaxConcurrency'] as number | undefined) || items.length || 1;
      const outputs = new Array<unknown>(items.length);
      let nextIndex = 0;
      const lane = async () => {
        while (nextIndex < items.length) {
          const i = nextIndex++;
          outputs[i] = (await runScope(sub, sub.StartAt, items[i], { ...ctx, map: { Item: { Index: i, Value: items[i] } } })).output;
        }
      };
      await Promise.all(Array.from({ length: Math.min(limit, Math.max(items.length, 1)) }, lane));
      return { next, output: finish(st, input, outputs, cx) };
    }
    default:
      throw new StatesError('States.Runtime', `"${st['Type']}" is not a state type joinflow runs`);
  }
}

/**
 * A Lambda function's failure as Step Functions reports it: the error's type is the ASL error,
 * and the Cause is the function's error response, JSON of {errorType, errorMessage, trace} (a
 * machine may read it with States.StringToJson). Other tasks' errors keep their message.
 */
function lambdaError(st: State, error: unknown): unknown {
  const resource = st['Resource'] as string;
  if (error instanceof StatesError || !(resource === 'arn:aws:states:::lambda:invoke' || resource.startsWith('arn:aws:lambda:'))) return error;
  const stack = (error as { stack?: unknown } | null)?.stack;
  const lines = typeof stack === 'string' ? stack.split('\n') : [];
  // The function's own frames: joinflow's, from the interpreter that called it on, are left out.
  const ours = lines.findIndex((l) => /[\\/]importers[\\/]asl[\\/]interpret\.[jt]s/.test(l));
  const trace = ours < 0 ? lines : lines.slice(0, ours);
  return new StatesError(errorName(error), JSON.stringify({ errorType: errorName(error), errorMessage: errorCause(error), trace }));
}

function waitMs(name: string, st: State, eff: unknown, cx: unknown): number {
  if (st['Seconds'] !== undefined) return (st['Seconds'] as number) * 1000;
  if (st['SecondsPath'] !== undefined) {
    const s = getPath(st['SecondsPath'] as string, eff, cx);
    if (typeof s !== 'number' || !(s >= 0)) throw new StatesError('States.Runtime', `Wait "${name}": SecondsPath gives ${JSON.stringify(s)}, not a number of seconds`);
    return s * 1000;
  }
  const ts = st['Timestamp'] ?? getPath(st['TimestampPath'] as string, eff, cx);
  const at = typeof ts === 'string' ? parseTimestamp(ts) : undefined;
  if (at === undefined) throw new StatesError('States.Runtime', `Wait "${name}": ${JSON.stringify(ts)} is not a timestamp`);
  return Math.max(0, (at.seconds + (at.leap ? 1 : 0)) * 1000 + Number(at.fraction.slice(0, 3).padEnd(3, '0')) - Date.now());
}

/**
 * Runs one state with its Retry (sleeping between attempts) and Catch. With `retryCount` (the
 * engine retries the step: this is its retry number) it runs one attempt, and an error is thrown
 * for the caller to retry or catch.
 */
export async function runState(name: string, st: State, input: unknown, ctx: RunContext, retryCount?: number): Promise<Step> {
  if (retryCount !== undefined) return attempt(name, st, input, ctx, retryCount);
  const counts = new Map<Retrier, number>();
  for (let retries = 0; ; retries++) {
    try {
      return await attempt(name, st, input, ctx, retries);
    } catch (error) {
      const err = errorName(error);
      const retrier = (st['Retry'] as Retrier[] | undefined)?.find((r) => errorMatches(r.ErrorEquals, err));
      const done = retrier ? counts.get(retrier) ?? 0 : 0;
      if (retrier && done < (retrier.MaxAttempts ?? 3)) {
        counts.set(retrier, done + 1);
        const delay = (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** done;
        await ctx.sleep(Math.min(delay, retrier.MaxDelaySeconds ?? Number.POSITIVE_INFINITY) * 1000);
        continue;
      }
      const caught = catchError(st, input, error, contextObject(ctx, name, retries));
      if (caught) return caught;
      throw error;
    }
  }
}

/** Where a Catch sends an error, and the catcher's input; undefined when no catcher matches. */
export function catchError(st: State, input: unknown, error: unknown, cx: unknown): Step | undefined {
  const name = errorName(error);
  const catcher = (st['Catch'] as Catcher[] | undefined)?.find((c) => errorMatches(c.ErrorEquals, name));
  if (!catcher) return undefined;
  const info = { Error: name, Cause: errorCause(error) };
  return { next: catcher.Next, output: setPath(catcher.ResultPath === undefined ? '$' : catcher.ResultPath, input, info) };
}

/**
 * Runs `scope` from `enter`: until a state ends it (`next: null`), or, given `within`, until a
 * transition leaves those states (`next` is then the state outside).
 */
export async function runScope(scope: Scope, enter: string, input: unknown, ctx: RunContext, within?: ReadonlySet<string>): Promise<Step> {
  let name = enter;
  let data = input;
  for (let n = 0; n < MAX_TRANSITIONS; n++) {
    const st = scope.States[name]!;
    const { next, output } = await runState(name, st, data, ctx);
    if (next === null || (within !== undefined && !within.has(next))) return { next, output };
    name = next;
    data = output;
  }
  throw new StatesError('States.Runtime', `more than ${MAX_TRANSITIONS} state transitions from "${enter}": a loop that does not end?`);
}

/**
 * The task functions of a module namespace (or an object of functions): its named exports, and
 * the properties of a default export object. A TypeScript module loaded as CommonJS (in a package
 * without "type": "module") has its default export one level deeper, at `default.default`.
 */
export function taskFunctions(tasks: Readonly<Record<string, unknown>>): Record<string, TaskFunction> {
  const fns: Record<string, TaskFunction> = {};
  const add = (o: unknown) => {
    if (o === null || typeof o !== 'object') return;
    for (const [k, v] of Object.entries(o)) if (typeof v === 'function') fns[k] = v as TaskFunction;
  };
  const d = tasks['default'];
  if (d !== null && typeof d === 'object') add((d as Record<string, unknown>)['default']);
  add(d);
  add(tasks);
  return fns;
}
