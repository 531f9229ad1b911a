/**
 * The trigger processor: (event, store) -> effects. Stateless between events — everything it
 * knows about a run is in the TriggerStore — so any number of copies may run (one Lambda
 * invocation per rule match on AWS, one loop in the embedded engine).
 */
import type { z } from 'zod';
import {
  DetailType, NEEDS_FAILED, drivesTriggers, EnvelopeSchema, isEnvelope, isRunRequested, isStepCompleted, isStepFailed, isStepSkipped, JOINFLOW_SOURCE,
  RunRequestedSchema, runIdProblem, StepCompletedSchema, StepFailedSchema, StepSkippedSchema,
  type EventEnvelope, type StepCompleted, type StepFailed, type StepSkipped,
} from '../model/events.ts';
import type { PlanStep, Trigger, TriggerPlan } from '../model/plan.ts';
import type { Clock, RunRecord, Task, TriggerStore } from '../ports.ts';
import { TriggerId } from '../compiler/compile.ts';
import { deadLetter, type Effect } from './effects.ts';
import { checkFailure, type ItemList, retryTask } from './failures.ts';
import { nextAttempt } from './fallback.ts';
import { mayEndWithoutResult, resultsOf, skipReason, whenValues, withCaughtError } from './choice.ts';
import { itemMismatch, missingItem } from './items.ts';
import { arrivalKey, arrivalOrdinal, arrive, DEFAULT_LEASE_MS, type Fires, setNeed, sizedJoin, stepIndex } from './join.ts';
import { RuleIndex } from './rule-index.ts';
import { takeBack } from './unreadable.ts';
import { firstItems, releasedTask } from './window.ts';
import { Replay, replayed, type Awaitable, type Io } from './replay.ts';
import { done, doneItems, fanOutItems, unfit, type Widest, makeTask, resultKey, retryDelay, skippedKey, stepResults } from './tasks.ts';

export type ProcessorDeps = {
  store: TriggerStore;
  clock: Clock;
  /** Unique ids for the events the processor emits. */
  newId: () => string;
  /** How long a claim is left to its claimer (DEFAULT_LEASE_MS): longer than one processing of an event can take. */
  leaseMs?: number;
  /** Added to the clock for leases only, not for the times recorded: --chaos crash-at expires the dead processor's leases so. */
  leaseSkewMs?: () => number;
  /** The widest forEach to dispatch (of each step), and why: a wider one fails its step (ForEachTooWide). Default: no limit. */
  widest?: Widest | ((step: PlanStep) => Widest);
  /**
   * The host ends a run, then announces it, and a crash can come between (AWS): an event redelivered
   * for an ended run re-checks the trigger that ended it, which past its lease announces it again.
   */
  reannounceEndings?: boolean;
};

type Rule = { plan: TriggerPlan; trigger: Trigger; stepIndex: ReadonlyMap<string, number> | undefined; sized: boolean };
/** What the actions of one event share. `list`: a failed item's forEach's list, read once for the event (checkFailure) and given to its retry. */
type Ctx = { io: Io; plan: TriggerPlan; run: RunRecord; event: EventEnvelope; detail: Record<string, unknown>; effects: Effect[]; only: string | undefined; list: ItemList | undefined; ending?: RunRecord['status'] };
/** The processor never uses a run's output: a store need not read it (DynamoDB: from S3, where it may be gone). */
const WITHOUT_OUTPUT = { output: false } as const;
/** `ending`: the run has ended so, and only the triggers that end a run so are re-checked (see reannounceEndings). */
const ENDS_WITH: Partial<Record<RunRecord['status'], Trigger['action']['type']>> = { succeeded: 'succeed-run', failed: 'fail-run' };

/** Matches events to the triggers of registered plans and runs the join algorithm. */
export class TriggerProcessor {
  readonly #deps: ProcessorDeps;
  readonly #plans = new Map<string, TriggerPlan>();
  /** Step ids per workflow; a Set lookup hashes the id, an object lookup would internalize it. */
  readonly #stepIds = new Map<string, Set<string>>();
  #index = new RuleIndex<Rule>();
  /** The store, clock and ids as they are, when the store answers at once. */
  readonly #direct: Io | undefined;

  constructor(deps: ProcessorDeps) {
    this.#deps = deps;
    const { store, clock, newId } = deps;
    this.#direct = store.synchronous ? { store: store as unknown as Io['store'], now: () => clock.now(), newId } : undefined;
  }

  /** Adds (or replaces) a workflow's plan. */
  register(plan: TriggerPlan): void {
    this.#plans.set(plan.workflow, plan);
    this.#stepIds.set(plan.workflow, new Set(Object.keys(plan.steps)));
    this.#index = new RuleIndex<Rule>();
    for (const p of this.#plans.values()) {
      for (const trigger of p.triggers) this.#index.add({ plan: p, trigger, stepIndex: stepIndex(trigger), sized: sizedJoin(trigger) }, trigger.activation);
    }
  }

  /** Ids of the triggers (of the event's own workflow) whose patterns match: one rule each on AWS. */
  matchingTriggers(event: EventEnvelope): string[] {
    const workflow = (event.detail as { workflow?: unknown } | undefined)?.workflow;
    const plan = typeof workflow === 'string' ? this.#plans.get(workflow) : undefined;
    if (!plan || !isEnvelope(event)) return [];
    return this.#index.match(event).filter((r) => r.plan === plan).map((r) => r.trigger.id);
  }

  plan(workflow: string): TriggerPlan | undefined {
    return this.#plans.get(workflow);
  }

  /**
   * Processes one event; the returned effects must be carried out in order after store.commit().
   * `only` restricts it to one trigger of the event's workflow: on AWS each EventBridge rule is
   * one trigger and invokes the processor with its id.
   */
  process(event: EventEnvelope, only?: string): Promise<Effect[]> {
    try {
      return Promise.resolve(this.processNow(event, only));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /**
   * `process`, but synchronous when the store is (memory, SQLite): the effects themselves, with no
   * promise or microtask on the way; a promise of them when a store call returned one (DynamoDB).
   * A synchronous store's error is thrown.
   */
  processNow(event: EventEnvelope, only?: string): Awaitable<Effect[]> {
    if (!isEnvelope(event)) {
      const envelope = EnvelopeSchema.safeParse(event);
      return [deadLetter(event, `malformed envelope: ${envelope.success ? 'not an object' : issues(envelope.error)}`)];
    }
    if (event.source !== JOINFLOW_SOURCE) return [];
    const type = event['detail-type'];
    if (!drivesTriggers(type)) return []; // Step Started, Run Succeeded, ...: for subscribers, no trigger of ours.
    const direct = this.#direct;
    if (direct) return this.#handle(direct, event, type, only);
    const { store, clock, newId } = this.#deps;
    const replay = new Replay();
    const io = replayed(store, clock, newId, replay);
    return replay.run(() => this.#handle(io, event, type, only));
  }

  #handle(io: Io, event: EventEnvelope, type: string, only: string | undefined): Effect[] {
    if (type === DetailType.RunRequested) return this.#runRequested(io, event, only);
    if (type === DetailType.StepCompleted) return this.#stepEvent(io, event, isStepCompleted, StepCompletedSchema, only);
    if (type === DetailType.StepSkipped) return this.#stepEvent(io, event, isStepSkipped, StepSkippedSchema, only);
    return this.#stepEvent(io, event, isStepFailed, StepFailedSchema, only);
  }

  #runRequested(io: Io, event: EventEnvelope, only: string | undefined): Effect[] {
    const d = event.detail;
    if (!isRunRequested(d)) {
      const parsed = RunRequestedSchema.safeParse(d);
      return [deadLetter(event, `invalid Run Requested detail: ${parsed.success ? 'rejected' : issues(parsed.error)}`)];
    }
    const { workflow, input } = d;
    const plan = this.#plans.get(workflow);
    if (!plan) return [deadLetter(event, `unknown workflow "${workflow}"`)];
    // Without a runId the event id names the run: every rule target sees the same event id.
    const runId = d.runId ?? event.id;
    const problem = d.runId === undefined ? runIdProblem(event.id) : undefined;
    if (problem) {
      // The id came from outside: quoted as JSON (one line) and cut short.
      const shown = JSON.stringify(event.id.length > 60 ? `${event.id.slice(0, 60)}...` : event.id);
      return [deadLetter(event, `Run Requested without a runId, and its event id ${shown} cannot name the run (${problem}): give a runId`)];
    }
    const { run } = io.store.startRun({ runId, workflow, input: input ?? null, startedAt: io.now() });
    if (run.workflow !== workflow) {
      return [deadLetter(event, `run id "${runId}" already belongs to workflow "${run.workflow}"`)];
    }
    // A repeated request for a run still going re-arrives (finishing a crashed fire); a
    // request for a finished run changes nothing: run ids are idempotency keys.
    if (run.status !== 'running') return [];
    const detail = { ...event.detail, runId };
    return this.#fire({ io, plan, run, event: { ...event, detail }, detail, effects: [], only, list: undefined });
  }

  #stepEvent(
    io: Io,
    event: EventEnvelope,
    valid: (d: Record<string, unknown>) => boolean,
    schema: z.ZodType<StepCompleted | StepFailed | StepSkipped>,
    only: string | undefined,
  ): Effect[] {
    if (!valid(event.detail)) {
      const parsed = schema.safeParse(event.detail);
      return [deadLetter(event, `invalid ${event['detail-type']} detail: ${parsed.success ? 'rejected' : issues(parsed.error)}`)];
    }
    const detail = event.detail as StepCompleted | StepFailed | StepSkipped;
    const plan = this.#plans.get(detail.workflow);
    if (!plan) return [deadLetter(event, `unknown workflow "${detail.workflow}"`)];
    if (!this.#stepIds.get(plan.workflow)!.has(detail.step)) return [deadLetter(event, `workflow "${detail.workflow}" has no step "${detail.step}"`)];
    const mismatch = 'reason' in detail ? undefined : itemMismatch(plan.steps[detail.step]!, detail, event['detail-type']);
    if (mismatch) return [deadLetter(event, `invalid ${event['detail-type']} detail: item: ${mismatch}`)];
    const run = io.store.getRun(detail.runId, WITHOUT_OUTPUT);
    if (!run) return [deadLetter(event, `unknown run "${detail.runId}"`)];
    // One workflow's triggers must never act on another workflow's run: its steps and results would mix.
    if (run.workflow !== detail.workflow) {
      return [deadLetter(event, `run "${detail.runId}" belongs to workflow "${run.workflow}", not "${detail.workflow}"`)];
    }
    // Late and duplicate deliveries for a finished run are normal under at-least-once delivery.
    if (run.status !== 'running') return this.#deps.reannounceEndings ? this.#fire({ io, plan, run, event, detail, effects: [], only, list: undefined, ending: run.status }) : [];
    let list: ItemList | undefined;
    if (event['detail-type'] === DetailType.StepFailed) {
      const checked = checkFailure(io.store, plan, run.runId, event, detail as StepFailed);
      if (Array.isArray(checked)) return checked;
      list = checked;
    }
    if (event['detail-type'] === DetailType.StepCompleted) {
      // Saved before any arrival is counted, so whoever completes a join finds every result.
      const d = detail as StepCompleted;
      io.store.saveResult(detail.runId, resultKey(d.step, d.item), d.output ?? null);
    }
    return this.#fire({ io, plan, run, event, detail, effects: [], only, list });
  }

  #fire(ctx: Ctx): Effect[] {
    const { store } = ctx.io;
    const now = this.#leaseNow(ctx.io);
    for (const { plan, trigger, stepIndex, sized } of this.#index.match(ctx.event)) {
      if (plan !== ctx.plan || (ctx.only !== undefined && trigger.id !== ctx.only)) continue;
      if (ctx.ending !== undefined && trigger.action.type !== ENDS_WITH[ctx.ending]) continue;
      const key = arrivalKey(trigger.condition.key, ctx.detail);
      const ordinal = store.ordinals || sized ? arrivalOrdinal(trigger, ctx.detail, stepIndex) : undefined;
      const fires = arrive(store, ctx.run.runId, trigger, key, ordinal, now, this.#leaseMs);
      if (fires === 'won' || fires === 'reclaimed') this.#act(ctx, trigger, key, fires);
      // An item past its forEach's width (a forged, misrouted or foreign event): it never counts.
      else if (fires) ctx.effects.push(deadLetter(ctx.event, missingItem(ctx.event, ctx.run.runId, fires.need)));
    }
    return ctx.effects;
  }

  get #leaseMs(): number {
    return this.#deps.leaseMs ?? DEFAULT_LEASE_MS;
  }

  /** The time leases are taken and judged at (see leaseSkewMs). */
  readonly #leaseNow = (io: Io): number => io.now() + (this.#deps.leaseSkewMs?.() ?? 0);

  /** Carries out a fire; one that cannot read a stored result it needs is taken back and dead-lettered (unreadable.ts). */
  #act(ctx: Ctx, trigger: Trigger, key: string, fires: Fires): void {
    const mark = ctx.effects.length;
    try {
      this.#carryOut(ctx, trigger, key, fires);
    } catch (error) {
      takeBack(ctx.effects, mark, ctx.event, error, () => `trigger "${trigger.id}" of run "${ctx.run.runId}" (workflow "${ctx.plan.workflow}")`);
    }
  }

  #carryOut(ctx: Ctx, trigger: Trigger, key: string, fires: Fires): void {
    const action = trigger.action;
    const ackId = trigger.condition.type === 'always' ? `${trigger.id}#${key}` : trigger.id;
    switch (action.type) {
      case 'dispatch':
        this.#dispatch(ctx, action.step, fires);
        break;
      case 'collect':
        this.#collect(ctx, action.step);
        break;
      case 'retry':
        this.#retry(ctx, fires);
        break;
      case 'release':
        this.#release(ctx, action.step, fires);
        break;
      case 'fail-run':
        if (trigger.id === TriggerId.fail) this.#failRun(ctx);
        else this.#failRunOnce(ctx, key);
        break;
      case 'succeed-run':
        this.#succeedRun(ctx);
        break;
      case 'lose':
        this.#lose(ctx, action.step);
        break;
    }
    ctx.effects.push({ type: 'ack', runId: ctx.run.runId, trigger: ackId });
  }

  /** `fires` 'reclaimed': taken over from a claimer that died unacknowledged, maybe after sending some tasks: those with results are not sent again (nor their needs' results read for them). */
  #dispatch(ctx: Ctx, step: string, fires: Fires): void {
    const { store } = ctx.io;
    const spec = ctx.plan.steps[step]!;
    const values = whenValues(store, ctx.run.runId, spec);
    if (spec.when !== undefined || spec.needsMaySkip) {
      // A choice: the step is skipped, and the steps after it hear so (Step Skipped counts toward their joins).
      const reason = skipReason(store, ctx.plan, ctx.run, spec, ctx.detail, values);
      if (reason !== undefined) {
        store.saveResult(ctx.run.runId, skippedKey(step), reason);
        ctx.effects.push(this.#publish(ctx.io, DetailType.StepSkipped, { workflow: ctx.plan.workflow, runId: ctx.run.runId, step, reason }));
        return;
      }
    }
    if (!spec.forEach) {
      if (fires === 'reclaimed' && done(store, ctx.run.runId, step, undefined)) return;
      const task = withCaughtError(store, ctx.run.runId, spec, makeTask(ctx.plan, ctx.run, step, 1, stepResults(store, ctx.run.runId, resultsOf(ctx.plan, spec), values)));
      ctx.effects.push(spec.delayMs ? { type: 'schedule', delayMs: spec.delayMs, task } : { type: 'dispatch', tasks: [task] });
      return;
    }
    const fan = fanOutItems(store, ctx.run.runId, spec, values);
    const widest = this.#deps.widest;
    const error = unfit(step, fan, typeof widest === 'function' ? widest(spec) : widest);
    if (error || 'error' in fan) {
      ctx.effects.push(this.#publish(ctx.io, DetailType.StepFailed, { workflow: ctx.plan.workflow, runId: ctx.run.runId, step, attempt: 1, error, retrying: false }));
      return;
    }
    // With maxConcurrency, only the first items are sent here (the others as items end: window.ts).
    const first = firstItems(spec, fan.items.length);
    const finished = fires === 'reclaimed' ? doneItems(store, ctx.run.runId, step, first) : undefined;
    const tasks: Task[] = [];
    let results: Record<string, unknown> | undefined;
    for (let index = 0; index < first; index++) {
      if (!finished?.has(index)) tasks.push(makeTask(ctx.plan, ctx.run, step, 1, (results ??= stepResults(store, ctx.run.runId, resultsOf(ctx.plan, spec), values)), { index, value: fan.items[index] }));
    }
    if (spec.delayMs) for (const task of tasks) ctx.effects.push({ type: 'schedule', delayMs: spec.delayMs, task });
    else if (tasks.length > 0) ctx.effects.push({ type: 'dispatch', tasks });
    const collectId = TriggerId.collect(step);
    // Items may have completed before the width was known (redelivery after a crash): setNeed
    // re-checks the counter, so the collect fires here if they are all in already (or N = 0).
    if (setNeed(store, ctx.run.runId, collectId, fan.items.length, this.#leaseNow(ctx.io), this.#leaseMs)) {
      this.#collect(ctx, step, fan);
      ctx.effects.push({ type: 'ack', runId: ctx.run.runId, trigger: collectId });
    }
  }

  /** `known`: the list, when this event has read it already (its dispatch), not read again. */
  #collect(ctx: Ctx, step: string, known?: { items: unknown[] }): void {
    const { store } = ctx.io;
    const fan = known ?? fanOutItems(store, ctx.run.runId, ctx.plan.steps[step]!);
    const n = 'items' in fan ? fan.items.length : 0;
    const keys = Array.from({ length: n }, (_, i) => resultKey(step, i));
    const found = store.getResults(ctx.run.runId, keys);
    const output = keys.map((k) => found.get(k) ?? null);
    ctx.effects.push(this.#publish(ctx.io, DetailType.StepCompleted, {
      workflow: ctx.plan.workflow, runId: ctx.run.runId, step, attempt: 1, items: n, output,
    }));
  }

  /** An item of a forEach with maxConcurrency has its result: the item it holds back starts (runtime/window.ts). */
  #release(ctx: Ctx, step: string, fires: Fires): void {
    const ended = (ctx.detail as StepCompleted).item!;
    // Taken over from a claimer that died after sending it, which has succeeded since.
    if (fires === 'reclaimed' && done(ctx.io.store, ctx.run.runId, step, ended + ctx.plan.steps[step]!.forEach!.maxConcurrency!)) return;
    const task = releasedTask(ctx.io.store, ctx.plan, ctx.run, step, ended);
    if (task) ctx.effects.push({ type: 'dispatch', tasks: [task] });
  }

  #retry(ctx: Ctx, fires: Fires): void {
    const d = ctx.detail as StepFailed;
    const spec = ctx.plan.steps[d.step]!;
    // Taken over from a claimer that died after sending the next attempt, which has succeeded since.
    if (fires === 'reclaimed' && done(ctx.io.store, ctx.run.runId, d.step, d.item)) return;
    const next = nextAttempt(spec, d);
    if (!next) {
      // A failure marked retrying past maxAttempts: fail for good rather than loop.
      ctx.effects.push(this.#publish(ctx.io, DetailType.StepFailed, { ...d, retrying: false }));
      return;
    }
    const task = retryTask(ctx.io.store, ctx.plan, ctx.run, d, next.on, ctx.list);
    ctx.effects.push(next.backoff ? { type: 'schedule', delayMs: retryDelay(spec, d.attempt), task } : { type: 'dispatch', tasks: [task] });
  }

  /**
   * A step lost too many of its needs ($lost:<step>): the run fails once, through $fail's own
   * join, as its other failures do. $fail is acknowledged after the effects that fail the run,
   * so that a crash between them leaves its claim to be taken over, not the run to hang.
   */
  #failRunOnce(ctx: Ctx, key: string): void {
    const fail = ctx.plan.triggers.find((t) => t.id === TriggerId.fail);
    if (fail && typeof arrive(ctx.io.store, ctx.run.runId, fail, key, undefined, this.#leaseNow(ctx.io), this.#leaseMs) !== 'string') return;
    this.#failRun(ctx);
    if (fail) ctx.effects.push({ type: 'ack', runId: ctx.run.runId, trigger: fail.id });
  }

  /** A step that can never run fails, so that the steps after it count it as they count failures. */
  #lose(ctx: Ctx, step: string): void {
    const spec = ctx.plan.steps[step]!;
    const lost = (ctx.detail as StepFailed).step;
    const message = spec.quorum === undefined
      ? `step "${step}" cannot run: its need "${lost}" failed`
      : `step "${step}" cannot run: too many of its needs failed (it waits for ${spec.quorum} of ${spec.needs.length})`;
    ctx.effects.push(this.#publish(ctx.io, DetailType.StepFailed, {
      workflow: ctx.plan.workflow, runId: ctx.run.runId, step, attempt: 1, error: { type: NEEDS_FAILED, message }, retrying: false,
    }));
  }

  #failRun(ctx: Ctx): void {
    const d = ctx.detail as StepFailed;
    const error = d.item === undefined ? { ...d.error, step: d.step } : { ...d.error, step: d.step, item: d.item };
    const runId = ctx.run.runId;
    const { events } = this.#publish(ctx.io, DetailType.RunFailed, { workflow: ctx.plan.workflow, runId, error, step: d.step });
    ctx.effects.push({ type: 'finish-run', runId, update: { status: 'failed', finishedAt: ctx.io.now(), error }, events });
  }

  #succeedRun(ctx: Ctx): void {
    const out = ctx.plan.output;
    const keys = 'step' in out ? [out.step] : out.sinks;
    const found = ctx.io.store.getResults(ctx.run.runId, keys);
    // A sink that was skipped (a choice), or failed and was caught, has no result and no key in the output.
    const output = 'step' in out
      ? (found.get(out.step) ?? null)
      : Object.fromEntries(keys.filter((k) => found.get(k) !== undefined || !mayEndWithoutResult(ctx.plan.steps[k]!)).map((k) => [k, found.get(k) ?? null]));
    const runId = ctx.run.runId;
    const { events } = this.#publish(ctx.io, DetailType.RunSucceeded, { workflow: ctx.plan.workflow, runId, output });
    ctx.effects.push({ type: 'finish-run', runId, update: { status: 'succeeded', finishedAt: ctx.io.now(), output }, events });
  }

  #publish(io: Io, type: string, detail: Record<string, unknown>): Extract<Effect, { type: 'publish' }> {
    return {
      type: 'publish',
      events: [{ id: io.newId(), source: JOINFLOW_SOURCE, 'detail-type': type, time: new Date(io.now()).toISOString(), detail }],
    };
  }
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}
