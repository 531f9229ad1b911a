/**
 * `joinflow/asl`: the handler of every step that `joinflow import asl` writes. The step's
 * `params` say which state(s) it runs (importers/asl/compile.ts); the Task states call the
 * functions of the module given to `aslHandler`:
 *
 *   import { aslHandler } from 'joinflow/asl';
 *   import * as tasks from './tasks.ts';
 *   export const handler = aslHandler(tasks);
 */
import type { From, StepParams } from './importers/asl/compile.ts';
import { catchError, contextObject, effectiveInput, errorCause, errorMatches, errorName, finish, mapItems, runScope, runState, taskFunctions, type RunContext, type Step } from './importers/asl/interpret.ts';
import type { Retrier, State } from './importers/asl/machine.ts';
import { StatesError } from './importers/asl/paths.ts';
import { NonRetriableStepError } from './model/errors.ts';
import type { StepContext, StepEvent } from './model/workflow.ts';

export type { TaskFunction } from './importers/asl/interpret.ts';
export { taskFunctions } from './importers/asl/interpret.ts';

/** What an imported step returns: where the machine goes next, and the state's output. */
export type Envelope = { next: string | null; enter?: string; end: boolean; output: unknown; input?: unknown; items?: unknown[] };

type AslEvent = StepEvent & { params?: unknown };

/** The handler of an imported machine's steps; `tasks`: a module namespace or an object of task functions. */
export function aslHandler(tasks: Readonly<Record<string, unknown>> = {}): (event: AslEvent, context: Partial<StepContext>) => Promise<unknown> {
  const fns = taskFunctions(tasks);
  return async (event, context) => {
    const p = event.params as StepParams | undefined;
    if (p === undefined || p === null || typeof p !== 'object' || p.v !== 1) {
      throw new NonRetriableStepError('this step has no params that joinflow import asl wrote (params.v 1): import the machine again');
    }
    const meta = (event as { joinflow?: { runId?: string; workflow?: string; attempt?: number; runStartedAt?: number } }).joinflow;
    const runId = context.runId ?? meta?.runId ?? 'run';
    const workflow = context.workflow ?? meta?.workflow ?? 'machine';
    const started = context.runStartedAt ?? meta?.runStartedAt;
    const ctx: RunContext = {
      tasks: fns,
      // ISO 8601 with milliseconds, as Step Functions gives it ("2019-03-26T20:14:13.192Z"): the run's start, in every state.
      execution: { Id: runId, Input: event.input, Name: runId, StartTime: started === undefined ? '' : new Date(started).toISOString() },
      stateMachine: { Id: workflow, Name: workflow },
      sleep,
    };
    const results = (event.results ?? {}) as Record<string, Envelope | undefined>;
    // The engine's attempt (1 for the first): a Task the engine retries reads $$.State.RetryCount from it.
    const attempt = context.attempt ?? meta?.attempt ?? 1;
    try {
      return await run(p, event, results, ctx, attempt - 1);
    } catch (error) {
      if (error instanceof NonRetriableStepError || (p.kind === 'task' && retriable(p.state['Retry'] as Retrier[] | undefined, error))) throw error;
      // Retry and Catch already ran in this handler (or there were none): the error ends the state.
      throw failure(errorName(error), errorCause(error));
    }
  };
}

/** The longest delay of one timer: Node fires a longer one at once (TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Sleeps `ms`, also longer than one timer can wait (a Wait for a date weeks ahead, a Task's
 * TimeoutSeconds of 30 days). Aborted (`signal`: the Task finished first), its timer is cleared
 * and it never resolves.
 */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const wait = (left: number): void => {
      if (left <= MAX_TIMER_MS) timer = setTimeout(resolve, left);
      else timer = setTimeout(() => wait(left - MAX_TIMER_MS), MAX_TIMER_MS);
    };
    signal?.addEventListener('abort', () => clearTimeout(timer), { once: true });
    if (!signal?.aborted) wait(ms);
  });
}

async function run(p: StepParams, event: AslEvent, results: Record<string, Envelope | undefined>, ctx: RunContext, retryCount: number): Promise<unknown> {
  switch (p.kind) {
    case 'unit': {
      const { input, enter } = arrive(p.from, p.self, event, results);
      // A delayed Wait has waited on the engine's timer already (the step's delayMs).
      const own = p.delayed ? { ...ctx, sleep: async () => {} } : ctx;
      return envelope(await runScope({ StartAt: p.startAt, States: p.states }, enter ?? p.startAt, input, own, new Set(p.within)), p.exits);
    }
    case 'task': {
      const { input } = arrive(p.from, p.self, event, results);
      try {
        return envelope(await runState(p.name, p.state, input, ctx, retryCount), p.exits);
      } catch (error) {
        if (!retriable(p.state['Retry'] as Retrier[] | undefined, error)) throw failure(errorName(error), errorCause(error));
        // Retried by the engine (the step's retry): the ASL error name is the error's name.
        const again = new Error(errorCause(error));
        again.name = errorName(error);
        throw again;
      }
    }
    case 'catch': {
      const { input } = arrive(p.from, p.self, event, results);
      const { name, cause } = caughtError(event.error);
      const to = catchError(p.state, input, new StatesError(name, cause), {});
      if (!to) throw failure(name, cause);
      return envelope(to, p.exits);
    }
    case 'parallel-head':
    case 'map-head': {
      const { input } = arrive(p.from, p.self, event, results);
      if (p.kind === 'parallel-head') return { next: null, end: false, output: effectiveInput(p.state, input, contextObject(ctx, p.name, 0)), input } satisfies Envelope;
      return { next: null, end: false, output: null, input, items: mapItems(p.state, input, ctx, p.name) } satisfies Envelope;
    }
    case 'map-item': {
      const index = event.index ?? 0;
      return (await runScope(p.processor, p.processor.StartAt, event.item, { ...ctx, map: { Item: { Index: index, Value: event.item } } })).output;
    }
    case 'parallel-join': {
      const outputs = p.branches.map((ids, i) => {
        const ended = ids.map((id) => results[id]).find((r) => r?.end === true);
        if (!ended) throw new StatesError('States.Runtime', `branch ${i} of the Parallel state "${p.name}" ended without an output`);
        return ended.output;
      });
      return joinOutput(p.state, results[p.head]?.input, outputs, p.exits, contextObject(ctx, p.name, 0));
    }
    case 'map-join': {
      const items = results[p.items] as unknown;
      return joinOutput(p.state, results[p.head]?.input, Array.isArray(items) ? items : [], p.exits, contextObject(ctx, p.name, 0));
    }
    case 'end': {
      const ended = p.ends.map((id) => results[id]).find((r) => r?.end === true);
      if (!ended) throw new StatesError('States.Runtime', 'the state machine ended without an output');
      return ended.output;
    }
  }
}

function joinOutput(state: State, input: unknown, outputs: unknown[], exits: Record<string, string>, cx: unknown): Envelope {
  const output = finish(state, input, outputs, cx);
  return envelope({ next: state['End'] === true ? null : (state['Next'] as string), output }, exits);
}

/** The state's input: the run's, a head step's output, or the output of the step that named this one next. */
function arrive(from: From[], self: string, event: AslEvent, results: Record<string, Envelope | undefined>): { input: unknown; enter?: string } {
  for (const f of from) {
    if (f.mode === 'run') return { input: event.input ?? {} };
    const r = results[f.step];
    if (r === undefined) continue;
    if (f.mode === 'head') return { input: r.output };
    if (r.next === self) return r.enter === undefined ? { input: r.output } : { input: r.output, enter: r.enter };
  }
  throw new StatesError('States.Runtime', `step "${self}" ran, but none of ${from.map((f) => `"${f.step}"`).join(', ')} went to it`);
}

function envelope(step: Step, exits: Record<string, string>): Envelope {
  if (step.next === null) return { next: null, end: true, output: step.output };
  const to = exits[step.next];
  if (to === undefined) throw new StatesError('States.Runtime', `no step runs state "${step.next}"`);
  return { next: to, enter: step.next, end: false, output: step.output };
}

const retriable = (retriers: Retrier[] | undefined, error: unknown) =>
  !(error instanceof NonRetriableStepError) && (retriers ?? []).some((r) => errorMatches(r.ErrorEquals, errorName(error)));

/** A failure the engine does not retry; its message starts with the ASL error name, which a catch step reads back. */
function failure(name: string, cause: string): NonRetriableStepError {
  return new NonRetriableStepError(cause === '' ? name : `${name}: ${cause}`);
}

/** The ASL error of a failure a catch step receives (joinflow's `{type, message}`). */
export function caughtError(error: { type: string; message: string } | undefined): { name: string; cause: string } {
  if (error === undefined) return { name: 'States.Runtime', cause: 'the catch step received no error' };
  if (error.type === 'StepTimeout') return { name: 'States.Timeout', cause: error.message };
  if (error.type !== 'NonRetriableStepError') return { name: error.type, cause: error.message };
  const at = error.message.indexOf(': ');
  return at < 0 ? { name: error.message, cause: '' } : { name: error.message.slice(0, at), cause: error.message.slice(at + 2) };
}
